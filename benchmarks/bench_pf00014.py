"""A real workload: a Potts model (q = 21, fields and every pair) fitted to the PF00014 alignment.

Targets are the reweighted one- and two-site frequencies with a pseudocount; the quality figure
is the Pearson correlation between the model's and the data's connected two-site correlations
C_ij(a, b) = f_ij(a, b) - f_i(a) f_j(b), with the model's frequencies from the persistent chains
averaged over the last 20 steps (a snapshot of the chains alone is too noisy for small C_ij).
Prints seconds per step and the correlation after 100, 300 and 1000 steps, and the wall time
at which it first reaches 0.95.

Run:  python benchmarks/bench_pf00014.py [--steps 1000] [--chains 1000] [--threads 2] [--lr 0.05]
      [--sweeps 1] [--decay 0.6]
"""

from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

import factorgraph as fg
import objectives

DATA = pathlib.Path(__file__).parent / "data" / "pf00014"


def load() -> tuple[np.ndarray, np.ndarray]:
    rows = np.loadtxt(DATA / "PF00014_numerical.txt", skiprows=1, dtype=np.int32)
    weights = np.loadtxt(DATA / "PF00014_weights.txt")
    return rows, weights


def connected(mean: np.ndarray, n: int, q: int) -> np.ndarray:
    """C_ij(a, b) for i < j, flattened, from the means of the field and pair Potential groups."""
    f1 = mean[: n * q].reshape(n, q)
    f2 = mean[n * q :].reshape(-1, q, q)
    i, j = np.triu_indices(n, k=1)
    return (f2 - f1[i][:, :, None] * f1[j][:, None, :]).ravel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--pseudocount", type=float, default=0.01)
    parser.add_argument("--sweeps", type=int, default=1, help="Gibbs sweeps per step")
    parser.add_argument("--decay", type=float, default=0.0,
                        help="if > 0, the rate decays as lr / (1 + t / 100) ** decay")
    args = parser.parse_args()

    data, weights = load()
    n, q = data.shape[1], 21
    g = fg.FactorGraph()
    v = g.add_variables(n, n_states=q)
    i, j = np.triu_indices(n, k=1)
    g.add_features(fg.features.Potential(v), name="fields")
    g.add_features(fg.features.Potential(np.stack([i, j], axis=1)), name="couplings")
    target = fg.moments(g, data, weights=weights, pseudocount=args.pseudocount)
    reference = connected(target, n, q)
    print(f"PF00014: {len(data)} sequences (M_eff = {weights.sum():.0f}), {n} positions, q = {q}, "
          f"{g.n_features:,} parameters; {args.chains} chains, {args.threads} threads")

    lr = fg.optim.inverse_time(args.lr, 100, args.decay) if args.decay > 0 else args.lr
    trainer = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=args.chains, seed=0,
                         n_threads=args.threads, sweeps_per_step=args.sweeps, optimizer=fg.optim.Adam(lr=lr))
    marks, reached = {}, None
    recent: list[np.ndarray] = []
    start = time.perf_counter()

    def watch(info: dict) -> None:
        nonlocal reached
        step = info["step"]
        recent.append(trainer.sampler.stats().mean)
        del recent[:-20]
        if step in (100, 300, 1000) or step % 50 == 0:
            r = np.corrcoef(connected(np.mean(recent, axis=0), n, q), reference)[0, 1]
            if step in (100, 300, 1000):
                marks[step] = r
            if reached is None and r >= 0.95:
                reached = (step, time.perf_counter() - start)
            print(f"  step {step:5d}  {time.perf_counter() - start:7.1f} s  Pearson C_ij {r:.4f}", flush=True)

    trainer.fit(max_steps=args.steps, tol=0.0, callback=watch, progress=False, check_every=10**9)
    elapsed = time.perf_counter() - start
    print(f"seconds per step: {elapsed / args.steps:.3f}")
    for step, r in marks.items():
        print(f"Pearson after {step} steps: {r:.4f}")
    print("reached 0.95: " + (f"step {reached[0]}, {reached[1]:.1f} s" if reached else "no"))


if __name__ == "__main__":
    main()
