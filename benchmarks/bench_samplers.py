"""Throughput of every built-in sampler on the Gibbs benchmark models.

Single-site updates per second (all chains together; a block or cluster move counts one update
per variable it redraws), 64 chains, with 1 and 2 threads, for the 64 x 64 periodic Ising
model, the random 4-regular graph of 10,000 spins and the 21-state Potts model on 200 variables.
Each figure is the best of a few timed batches of at least ``--seconds`` in all. For how well
the samplers mix, see bench_sw.py (effective samples of |magnetisation| per second).

Run:  python benchmarks/bench_samplers.py [--seconds 1.0] [--models ising,regular,potts]
"""

from __future__ import annotations

import argparse

from bench_gibbs import ising, potts, regular, throughput

import samplers

MODELS = {"ising": ising, "regular": regular, "potts": potts}
BUILT_IN = ("gibbs", "mh", "block-gibbs", "swendsen-wang")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per figure (default 1)")
    parser.add_argument("--models", default="ising,regular,potts", help="comma-separated: ising, regular, potts")
    args = parser.parse_args()
    names = [name for name in BUILT_IN if name in samplers.available()]
    for model in args.models.split(","):
        compiled, theta = MODELS[model]()
        print(f"{model}: {compiled.n_variables} variables, {compiled.n_features:,} features, 64 chains")
        for name in names:
            rates = [throughput(compiled, theta, t, seconds=args.seconds, sampler=name) for t in (1, 2)]
            print(f"  {name:>14}: {rates[0] / 1e6:9.3f} M/s (1 thread) {rates[1] / 1e6:9.3f} M/s (2 threads)")


if __name__ == "__main__":
    main()
