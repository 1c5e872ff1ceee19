"""ShardedChains on a local Dask cluster against the single-process Gibbs sampler.

1. Per-step overhead, K = 10^4 and 10^6 features (random binary graphs in which each variable
   has about 4 neighbours, with fields and couplings), 64 chains, 2 worker processes of 1 thread,
   1 sweep a step. A step is
   ``run`` plus ``stats`` (what the trainer asks of a sampler each step). Printed: the step time
   of one process with 2 threads and of 2 shards, the communication per step (the step's wall
   time less its slowest shard's sweeping) and its share of the step.
2. Scaling: updates per second of a 512 x 512 periodic Ising model at J = 0.44 (about 262,000
   variables, 524,000 features), 128 chains, 4 sweeps a step, on 1 and on 2 worker processes of 1
   thread each, against one process with 1 and 2 threads.

Run:  python benchmarks/bench_sharded.py [--steps N]
(needs the distributed extra: pip install "factorgraph-maxent[distributed]")
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from bench_gibbs import ising  # the periodic lattice of the Gibbs benchmark (this folder)

import factorgraph as fg
import samplers


def regular(n_features: int, seed: int = 0):
    """A random graph of n binary variables where each has about 4 neighbours: fields plus
    2n couplings, so about 3n features (two random cyclic orders, duplicates dropped)."""
    n = n_features // 3
    rng = np.random.default_rng(seed)
    ring = np.stack([np.arange(n), np.roll(np.arange(n), -1)], axis=1)
    order = rng.permutation(n)
    other = np.stack([order, np.roll(order, -1)], axis=1)
    edges = np.unique(np.sort(np.concatenate([ring, other]), axis=1), axis=0)
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    g.add_features(fg.features.Product(np.arange(n)))
    g.add_features(fg.features.Product(edges))
    theta = np.concatenate([rng.normal(0, 0.1, n), rng.normal(0, 0.3, len(edges))])
    return g.compile(), theta


def step_times(sampler, theta, steps: int, sweeps: int) -> np.ndarray:
    """Seconds of each of ``steps`` steps (run + stats), after one warm-up step."""
    sampler.run(theta, sweeps)
    sampler.stats()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        sampler.run(theta, sweeps)
        sampler.stats()
        times.append(time.perf_counter() - start)
    return np.array(times)


def cluster(n_workers: int):
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return local, Client(local)


def overhead(steps: int) -> None:
    print("1. per-step overhead: 64 chains, 1 sweep a step, 2 workers x 1 thread against 1 process x 2 threads")
    print(
        f"{'features':>10} {'local ms':>9} {'sharded ms':>11} {'comm ms':>8} {'share':>6} {'local M/s':>10} "
        f"{'sharded M/s':>12}  (median of {steps} steps)"
    )
    local_cluster, client = cluster(2)
    try:
        for k in (10_000, 1_000_000):
            compiled, theta = regular(k)
            local = samplers.create("gibbs", compiled, 64, seed=1, n_threads=2)
            sharded = samplers.ShardedChains(compiled, 64, seed=1, client=client, n_shards=2, block_size=32)
            t_local = np.median(step_times(local, theta, steps, 1))
            t_sharded = np.median(step_times(sharded, theta, steps, 1))
            share = sharded.overhead
            updates = 64 * compiled.n_variables / 1e6  # a sweep of every chain
            print(
                f"{compiled.n_features:>10,} {t_local * 1e3:>9.2f} {t_sharded * 1e3:>11.2f} "
                f"{share * t_sharded * 1e3:>8.2f} {share:>6.0%} {updates / t_local:>10.1f} {updates / t_sharded:>12.1f}"
            )
            assert np.array_equal(local.stats().mean, sharded.stats().mean)  # the same bits
            sharded.close()
    finally:
        client.close()
        local_cluster.close()


def scaling(steps: int) -> None:
    compiled, theta = ising(512)
    n_chains, sweeps = 128, 4
    updates = n_chains * compiled.n_variables * sweeps
    print(
        f"\n2. scaling: 512 x 512 Ising ({compiled.n_variables:,} variables, {compiled.n_features:,} features), "
        f"{n_chains} chains, {sweeps} sweeps a step"
    )
    print(f"{'':>26} {'M updates/s':>12} {'s/step':>7}")
    rates = {}
    for threads in (1, 2):
        local = samplers.create("gibbs", compiled, n_chains, seed=1, n_threads=threads)
        t = np.median(step_times(local, theta, steps, sweeps))
        rates[f"1 process, {threads} thread(s)"] = (updates / t, t)
    for workers in (1, 2):
        local_cluster, client = cluster(workers)
        try:
            sharded = samplers.ShardedChains(compiled, n_chains, seed=1, client=client)
            t = np.median(step_times(sharded, theta, steps, sweeps))
            rates[f"{workers} worker(s) x 1 thread"] = (updates / t, t)
            sharded.close()
        finally:
            client.close()
            local_cluster.close()
    for name, (rate, t) in rates.items():
        print(f"{name:>26} {rate / 1e6:>12.1f} {t:>7.3f}")
    one, two = rates["1 worker(s) x 1 thread"][0], rates["2 worker(s) x 1 thread"][0]
    print(f"speed-up from 1 to 2 worker processes: {two / one:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per case")
    args = parser.parse_args()
    warnings.simplefilter("ignore", fg.ShardingOverheadWarning)  # measured and printed here instead
    overhead(args.steps)
    scaling(max(3, args.steps // 6))


if __name__ == "__main__":
    main()
