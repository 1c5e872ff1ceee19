"""Threads that never hurt: training steps per second with 1 and 2 threads, alone and beside a
busy process.

Two everyday models, each trained for a fixed number of steps with the library's defaults
(``fg.Trainer``, no convergence stop, no assessment):
  * the README's first model (9 spins on a 3x3 torus, 500 chains);
  * the pairwise model of the bundled digits (64 spins, 2,080 features, 1,000 chains).
Each is timed with ``n_threads=1`` and ``n_threads=2``, first on a quiet machine and then while
another process keeps one core busy (a Python busy loop), which is what a new user's laptop
or a shared server looks like. The ratio "2 threads / 1 thread" is measured in the same
conditions, back to back; above 1 the second thread pays.

Run:  python benchmarks/bench_threads.py [--steps 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time

import numpy as np

import factorgraph as fg
import objectives


def readme_model() -> tuple[fg.FactorGraph, np.ndarray, int]:
    g = fg.FactorGraph()
    spins = g.add_variables(9, values=[-1, 1]).reshape(3, 3)
    g.add_features(fg.features.Product(spins.ravel()), name="fields")
    right = np.stack([spins.ravel(), np.roll(spins, -1, axis=1).ravel()], axis=1)
    down = np.stack([spins.ravel(), np.roll(spins, -1, axis=0).ravel()], axis=1)
    g.add_features(fg.features.Product(np.concatenate([right, down])), name="couplings")
    data = np.random.default_rng(0).integers(0, 2, size=(500, 9))
    return g, fg.moments(g, data), 500


def digits_model() -> tuple[fg.FactorGraph, np.ndarray, int]:
    g, x = fg.datasets.digits_ising()
    return g, fg.moments(g, x, pseudocount=0.01), 1000


def steps_per_second(model, threads: int, steps: int, rounds: int) -> float:
    """The best of ``rounds`` timed fits of ``steps`` steps (each on a new trainer)."""
    g, target, n_chains = model
    best = np.inf
    for _ in range(rounds):
        trainer = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=n_chains, seed=0, n_threads=threads)
        start = time.perf_counter()
        trainer.fit(max_steps=steps, tol=0.0, progress=False, assess=False)
        best = min(best, time.perf_counter() - start)
    return steps / best


@contextlib.contextmanager
def busy_core():
    """Another process keeping one core busy while the block runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    models = {"README model (9 spins, 500 chains)": readme_model(), "digits (64 spins, 1,000 chains)": digits_model()}
    for condition, context in (("quiet machine", contextlib.nullcontext), ("one core busy", busy_core)):
        print(f"{condition}:")
        for name, model in models.items():
            with context():
                rates = {t: steps_per_second(model, t, args.steps, args.rounds) for t in (1, 2)}
            print(
                f"  {name:>34}: {rates[1]:8.1f} steps/s (1 thread) {rates[2]:8.1f} steps/s (2 threads), "
                f"2 threads / 1 thread = {rates[2] / rates[1]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
