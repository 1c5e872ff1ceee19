"""Mixing at β = 0.44: Gibbs, Metropolis-Hastings and Swendsen-Wang on the 64 x 64 Ising torus.

For each sampler, 64 chains start from the same equilibrated states (Swendsen-Wang burn-in,
then copied into every sampler) and record |magnetisation| per site after every sweep. The
benchmark prints, per sampler, the integrated autocorrelation time τ of |m| per sweep
(samplers.diagnostics, chains pooled), sweeps per second, and effective samples of |m| per
second (chains × sweeps / τ / seconds); then the ratio of Gibbs's τ to Swendsen-Wang's, which
the issue requires to be at least 10.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_sw.py [--threads 1] [--gibbs-sweeps 30000]
      [--mh-sweeps 30000] [--sw-sweeps 1500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import factorgraph as fg
import samplers
from factorgraph._errors import DiagnosticsError
from samplers import diagnostics

SIDE, BETA, N_CHAINS = 64, 0.44, 64


def ising(side: int = SIDE):
    g = fg.FactorGraph()
    s = g.add_variables(side * side, values=[-1, 1]).reshape(side, side)
    right = np.stack([s.ravel(), np.roll(s, -1, axis=1).ravel()], axis=1)
    down = np.stack([s.ravel(), np.roll(s, -1, axis=0).ravel()], axis=1)
    g.add_features(fg.features.Product(np.concatenate([right, down])))
    return g.compile(), np.full(2 * side * side, BETA)


def equilibrated(cg, theta, threads: int, burn_in: int = 300) -> np.ndarray:
    """States of N_CHAINS chains after a Swendsen-Wang burn-in."""
    sampler = samplers.create("swendsen-wang", cg, N_CHAINS, seed=100, n_threads=threads)
    sampler.run(theta, burn_in)
    return sampler.states


def measure(name: str, cg, theta, start: np.ndarray, n_sweeps: int, threads: int) -> dict:
    sampler = samplers.create(name, cg, N_CHAINS, seed=1, n_threads=threads)
    state = sampler.get_state()
    state["states"] = start
    size = sampler.block_size
    state["block_sums"] = np.array([cg.feature_sums(start[i : i + size]) for i in range(0, N_CHAINS, size)])
    sampler.set_state(state)
    values = cg.values[cg.value_offset[0] : cg.value_offset[0] + 2]  # the spin of state 0 and of state 1
    draws = np.empty((N_CHAINS, n_sweeps))
    seconds = 0.0
    for t in range(n_sweeps):
        begin = time.perf_counter()
        sampler.run(theta, 1)
        seconds += time.perf_counter() - begin
        draws[:, t] = np.abs(values[sampler.states].mean(axis=1))
    try:
        tau = float(diagnostics.integrated_time(draws))
    except DiagnosticsError as exc:  # too short a run for a trustworthy τ: say so, give what there is
        print(f"  {name}: {exc}")
        try:
            tau = float(diagnostics.integrated_time(draws, min_draws_per_tau=0))
            print(f"  {name}: τ from a run shorter than 50 τ (biased low): {tau:.1f}")
        except DiagnosticsError:
            tau = float("nan")
    return {"tau": tau, "sweeps_per_s": n_sweeps / seconds, "ess_per_s": N_CHAINS * n_sweeps / tau / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gibbs-sweeps", type=int, default=30_000)
    parser.add_argument("--mh-sweeps", type=int, default=30_000)
    parser.add_argument("--sw-sweeps", type=int, default=1_500)
    args = parser.parse_args()
    cg, theta = ising()
    start = equilibrated(cg, theta, args.threads)
    print(
        f"64 x 64 periodic Ising, beta = {BETA}, {N_CHAINS} chains, {args.threads} thread(s); "
        "statistic |magnetisation| per site after each sweep"
    )
    print(f"{'sampler':>14} {'sweeps':>7} {'tau (sweeps)':>13} {'sweeps/s':>9} {'ESS/s':>9}")
    results = {}
    for name, n_sweeps in (("swendsen-wang", args.sw_sweeps), ("gibbs", args.gibbs_sweeps), ("mh", args.mh_sweeps)):
        r = results[name] = measure(name, cg, theta, start, n_sweeps, args.threads)
        print(f"{name:>14} {n_sweeps:>7} {r['tau']:>13.1f} {r['sweeps_per_s']:>9.1f} {r['ess_per_s']:>9.1f}")
    sw = results["swendsen-wang"]
    for name in ("gibbs", "mh"):
        print(
            f"tau({name}) / tau(swendsen-wang) = {results[name]['tau'] / sw['tau']:.1f}; "
            f"ESS/s(swendsen-wang) / ESS/s({name}) = {sw['ess_per_s'] / results[name]['ess_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
