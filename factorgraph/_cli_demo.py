"""The ``demo`` and ``kinds`` commands: the main job on the bundled digits, and a tour of every feature kind.

Both print their report: it is the command's output.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def run_demo(args: argparse.Namespace) -> int:
    """The main job: a pairwise (Ising) MaxEnt model fitted to the bundled binarised digits."""
    import factorgraph as fg

    g, data = fg.datasets.digits_ising()
    n = data.shape[1]
    target = fg.moments(g, data, pseudocount=args.pseudocount)
    print(f"data: {data.shape[0]} binarised 8x8 digit images (UCI optical digits, CC BY 4.0), {n} pixels")
    print(f"model: {g.n_features} features (all first and second moments), pseudocount {args.pseudocount}")

    def mismatch(theta: np.ndarray) -> tuple[float, float]:
        """RMS and max |m - E_theta[f]|, E from fresh chains (not the training chains)."""
        # 3000 sweeps of burn-in: a well-fitted pixel model mixes slowly, and 300 sweeps left the
        # fresh chains far from equilibrium (a mismatch of 0.037 that was 0.002 after 3000)
        draws = fg.sample(
            g, theta, 20_000, n_chains=2000, burn_in=3000, thin=10, seed=args.seed + 1, n_threads=args.threads
        )
        gap = fg.moments(g, draws) - target
        return float(np.sqrt(np.mean(gap**2))), float(np.abs(gap).max())

    before = mismatch(np.zeros(g.n_features))
    print(f"moment mismatch before: rms {before[0]:.4f}, max {before[1]:.4f} (theta = 0)")
    start = time.perf_counter()
    result = fg.fit(
        g,
        target=target,
        n_chains=args.chains,
        sweeps_per_step=args.sweeps,
        max_steps=args.steps,
        tol=0.0,
        seed=args.seed,
        n_threads=args.threads,
        progress=False if getattr(args, "quiet", False) else None,
        assess=False,  # the demo measures the result on fresh chains itself, below
    )
    elapsed = time.perf_counter() - start
    after = mismatch(result.theta)
    print(
        f"moment mismatch after:  rms {after[0]:.4f}, max {after[1]:.4f} "
        f"({result.n_steps} steps of {args.sweeps} sweeps x {args.chains} chains)"
    )
    print(f"fit time: {elapsed:.1f} s ({elapsed / max(result.n_steps, 1) * 1e3:.1f} ms a step)")
    if args.out:
        g.save(args.out, theta=result.theta)
        print(f"model and theta saved to {args.out}")
    return 0


def run_kinds(args: argparse.Namespace) -> int:
    """Build a model with every feature kind, compile it, and fit a small one exactly."""
    import factorgraph as fg
    from factorgraph import features as F

    rng = np.random.default_rng(args.seed)
    side = args.size
    g = fg.FactorGraph()
    spins = g.add_variables(side * side, values=[-1, 1]).reshape(side, side)
    colours = g.add_variables(side, n_states=3)
    level = g.add_variables(side, edges=np.linspace(0.0, 1.0, 5))
    right = np.stack([spins.ravel(), np.roll(spins, -1, axis=1).ravel()], axis=1)
    down = np.stack([spins.ravel(), np.roll(spins, -1, axis=0).ravel()], axis=1)
    t0 = time.perf_counter()
    g.add_features(F.Product(spins.ravel()), name="fields")
    g.add_features(F.Product(np.concatenate([right, down])), name="couplings")
    g.add_features(F.Indicator(np.stack([colours, spins[:, 0]], 1), states=[2, 1]), name="colour-up")
    g.add_features(F.Bin(np.stack([level, spins[:, 1]], 1), lower=[0.5, 0.0], upper=[1.0, 2.0]), name="high-up")
    g.add_features(F.Polynomial(level, power=2), name="level-squared")
    g.add_features(F.Threshold(level, threshold=0.5), name="level-high")
    g.add_features(F.Table(np.stack([colours, level], 1), table=rng.normal(size=(3, 4))), name="table")
    g.add_features(F.Function(np.stack([level, spins[:, 2]], 1), fn=lambda v, s: np.cos(v * s)), name="cosine")
    g.add_features(F.Potential(np.stack([colours[:-1], colours[1:]], 1), reference=0), name="colour-pairs")
    g.add_features(F.Histogram(np.stack([level[:-1], level[1:]], 1), edges=[0.0, 0.5, 1.0]), name="level-grid")
    t1 = time.perf_counter()
    compiled = g.compile()
    t2 = time.perf_counter()
    print(f"model: {g}")
    for grp in g.groups:
        print(f"  {grp.name:>14}: {grp.kind:<10} {len(grp.scopes):>5} scopes -> {grp.n_features:>5} features")
    print(f"compiled: {compiled}")
    sizes = np.diff(compiled.color_ptr)
    print(f"colouring: {compiled.n_colors} colours, class sizes {sizes.tolist()}")
    print(f"build {1e3 * (t1 - t0):.1f} ms, compile {1e3 * (t2 - t1):.1f} ms")

    # An exact fit on a model small enough to enumerate: a 3x3 Ising torus of spins.
    small = fg.FactorGraph()
    s = small.add_variables(9, values=[-1, 1]).reshape(3, 3)
    small.add_features(F.Product(s.ravel()), name="fields")
    pairs = (
        np.stack([s.ravel(), np.roll(s, -1, 1).ravel()], 1).tolist()
        + np.stack([s.ravel(), np.roll(s, -1, 0).ravel()], 1).tolist()
    )
    small.add_features(F.Product(pairs), name="couplings")
    theta_star = rng.normal(0.0, 0.4, small.n_features)
    target = fg.exact.expectations(small, theta_star)
    t3 = time.perf_counter()
    result = fg.exact.fit(small, target)
    t4 = time.perf_counter()
    print(
        f"exact fit of a 3x3 Ising torus ({small.n_features} parameters, 512 states): "
        f"|grad| = {result.grad_norm:.2e}, max |theta - theta*| = {np.abs(result.theta - theta_star).max():.2e}, "
        f"{1e3 * (t4 - t3):.0f} ms"
    )
    return 0
