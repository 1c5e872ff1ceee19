"""The default fit on the hard family of small models, judged exactly at the returned θ.

Each model of ``tests/factorgraph/_hard_models.py`` (frustrated, glassy, maximum-likelihood
targets without a penalty, multi-state, three-body, a marginal prior, L1) is fitted with the
library's defaults (only the chains, the seed and the threads chosen), and the figure is
KL(p_exact ‖ p_fit) by enumeration, p_exact the exact maximiser of the same objective. For
comparison, the previous defaults (constant-rate ``Adam(lr=0.02)``, no averaging, one sweep a
step) run the same number of steps.

Prints, per model: steps and time to convergence, KL, whether it says converged, the sweeps per
step it chose; KL after ten times the steps (the convergence stop off); and the previous
defaults' KL at both step counts.

Run:  python benchmarks/bench_hard_family.py [--chains 512] [--threads 1] [--seed 1] [--no-long]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import factorgraph as fg

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from tests.factorgraph._hard_models import HARD_MODELS, kl_to_exact  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--long",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run ten times the steps (slow on the spin glass)",
    )
    args = parser.parse_args()
    common = dict(n_chains=args.chains, seed=args.seed, n_threads=args.threads)
    print(
        f"{'model':28s} {'steps':>6s} {'s':>6s} {'KL':>9s} conv sweeps {'KL x10':>9s} | {'old KL':>9s} {'old x10':>9s}"
    )
    for make in HARD_MODELS:
        g, terms, exact = make()
        start = time.perf_counter()
        result = fg.Trainer(g, terms, **common).fit(progress=False)
        seconds = time.perf_counter() - start
        steps = result.n_steps
        kl = kl_to_exact(g, exact.theta, result.theta)
        old = fg.Trainer(
            g, terms, optimizer=fg.optim.Adam(lr=0.02), sweeps_per_step=1, theta0=g.theta_init(), **common
        ).fit(max_steps=steps, tol=0.0, progress=False, assess=False)
        kl_old = kl_to_exact(g, exact.theta, old.theta)
        long = old_long = float("nan")
        if args.long:
            longer = fg.Trainer(g, terms, **common).fit(max_steps=10 * steps, tol=0.0, progress=False, assess=False)
            long = kl_to_exact(g, exact.theta, longer.theta)
            old_longer = fg.Trainer(
                g, terms, optimizer=fg.optim.Adam(lr=0.02), sweeps_per_step=1, theta0=g.theta_init(), **common
            ).fit(max_steps=10 * steps, tol=0.0, progress=False, assess=False)
            old_long = kl_to_exact(g, exact.theta, old_longer.theta)
        print(
            f"{make.__name__:28s} {steps:6d} {seconds:6.1f} {kl:9.2e} {'yes ' if result.converged else 'no  '}"
            f"{int(result.history['sweeps'][-1]):6d} {long:9.2e} | {kl_old:9.2e} {old_long:9.2e}",
            flush=True,
        )
        if not result.converged:
            print(f"    {result.message}")


if __name__ == "__main__":
    main()
