"""Gibbs throughput (single-site updates per second, all chains together) and training speed.

Models, each with 64 chains, run with 1 and 2 threads:
  * the 64 x 64 periodic 2D Ising model (J = 0.44);
  * a random 4-regular graph of 10,000 binary variables with random couplings and fields;
  * a 21-state Potts model on 200 variables with fields and a Potential on every pair
    (about 8.8 million parameters);
then the Potts models the protein-family users bring, the PF00014 shape (53 sites, q = 21, fields
and every pair) and the 200-site model, with 64 and 1,000 chains, 1 and 2 threads, with the
statistics read from the final states and averaged over every sweep (``average_sweeps=True``,
what training uses; the ratio of the two is measured in the same process); and training steps
per second of the pairwise model fitted to the bundled digits. Each rate is
the best of five timed runs of about 0.4 s, each with its per-run costs (the tables for θ, the
exact sums); on a shared machine the worst runs measure the neighbours, not the kernel.

Run:  python benchmarks/bench_gibbs.py
"""

from __future__ import annotations

import time

import networkx as nx
import numpy as np

import factorgraph as fg
import objectives
import samplers

TARGETS = {"ising": 400e6, "regular": 400e6, "potts": 1e6}


def ising(side: int = 64):
    g = fg.FactorGraph()
    s = g.add_variables(side * side, values=[-1, 1]).reshape(side, side)
    right = np.stack([s.ravel(), np.roll(s, -1, axis=1).ravel()], axis=1)
    down = np.stack([s.ravel(), np.roll(s, -1, axis=0).ravel()], axis=1)
    g.add_features(fg.features.Product(np.concatenate([right, down])))
    return g.compile(), np.full(2 * side * side, 0.44)


def regular(n: int = 10_000):
    rng = np.random.default_rng(0)
    edges = np.array(nx.random_regular_graph(4, n, seed=0).edges())
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    g.add_features(fg.features.Product(np.arange(n)))
    g.add_features(fg.features.Product(edges))
    theta = np.concatenate([rng.normal(0, 0.1, n), rng.normal(0, 0.4, len(edges))])
    return g.compile(), theta


def potts(n: int = 200, q: int = 21):
    rng = np.random.default_rng(0)
    g = fg.FactorGraph()
    v = g.add_variables(n, n_states=q)
    i, j = np.triu_indices(n, k=1)
    g.add_features(fg.features.Potential(v))
    g.add_features(fg.features.Potential(np.stack([i, j], axis=1)))
    return g.compile(), rng.normal(0, 0.05, g.n_features)


def throughput(
    compiled,
    theta,
    threads: int,
    n_chains: int = 64,
    seconds: float = 2.0,
    sampler: str = "gibbs",
    rounds: int = 5,
    **options,
) -> float:
    """Single-site updates per second (all chains together) of a registered sampler: the best of
    ``rounds`` timed ``run`` calls of about ``seconds / rounds`` each, every one with its per-run
    costs (tables, sums). The best, because on a shared machine noise only ever slows a run."""
    sampler = samplers.create(sampler, compiled, n_chains, seed=1, n_threads=threads, **options)
    sampler.run(theta, 1)

    def timed(n_sweeps: int) -> float:
        start = time.perf_counter()
        sampler.run(theta, n_sweeps)
        return time.perf_counter() - start

    batch, elapsed, share = 1, timed(1), seconds / rounds
    while elapsed < share / 4:  # size the runs
        batch *= 2
        elapsed = timed(batch)
    batch = max(1, round(batch * share / elapsed))
    best = min(timed(batch) for _ in range(rounds))
    return batch * n_chains * compiled.n_variables / best


def training_steps_per_second(threads: int, steps: int = 200) -> float:
    g, x = fg.datasets.digits_ising()
    target = fg.moments(g, x, pseudocount=0.01)
    trainer = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=1000, seed=0, n_threads=threads)
    start = time.perf_counter()
    trainer.fit(max_steps=steps, tol=0.0, progress=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    from factorgraph._openmp import have_openmp

    print(f"OpenMP: {have_openmp()}")
    for name, build in (("ising", ising), ("regular", regular), ("potts", potts)):
        compiled, theta = build()
        rates = {t: throughput(compiled, theta, t) for t in (1, 2)}
        print(
            f"{name:>8}: {compiled.n_variables} variables, {compiled.n_features:,} features, 64 chains: "
            f"{rates[1] / 1e6:8.1f} M/s (1 thread) {rates[2] / 1e6:8.1f} M/s (2 threads), "
            f"speed-up {rates[2] / rates[1]:.2f}, target {TARGETS[name] / 1e6:.0f} M/s "
            f"({rates[2] / TARGETS[name]:.2f} of it)"
        )
    print("Potts, updates per second with the final states' statistics / averaged over every sweep:")
    for name, n in (("PF00014 shape", 53), ("200 sites", 200)):
        compiled, theta = potts(n)
        for n_chains in (64, 1000):
            for t in (1, 2):
                plain = throughput(compiled, theta, t, n_chains=n_chains)
                averaged = throughput(compiled, theta, t, n_chains=n_chains, average_sweeps=True)
                print(
                    f"  {name:>13}, {compiled.n_features:>9,} features, {n_chains:>4} chains, {t} thread(s): "
                    f"{plain / 1e6:6.2f} M/s  {averaged / 1e6:6.2f} M/s averaged ({averaged / plain:.2f} of it)",
                    flush=True,
                )
    for t in (1, 2):
        print(
            f"digits training (64 spins, 2,080 features, 1,000 chains, 1 sweep a step), {t} thread(s): "
            f"{training_steps_per_second(t):.1f} steps/s"
        )


if __name__ == "__main__":
    main()
