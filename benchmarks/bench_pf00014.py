"""A real workload: a Potts model (q = 21, fields and every pair) fitted to the PF00014 alignment.

Targets are the reweighted one- and two-site frequencies with a pseudocount. The quality figure
is the Pearson correlation between the data's and the model's connected two-site correlations
C_ij(a, b) = f_ij(a, b) − f_i(a) f_j(b), measured where it means something: at the θ the fit
would return at that moment (the averaged iterate once the fit has landed), on fresh chains
started from scratch and run to equilibrium (:func:`factorgraph.assess`), never on the training
chains, which lag behind θ.

The fit uses the library's defaults; only the chains, threads and seed are chosen. During
training the returned θ is copied after 100, 300 and 1000 steps and every ``--every`` seconds of
training; after training each copy is assessed (the assessments are not counted in the training
time). Runs once per pseudocount: 0.01 and 1/M_eff, the field's usual choice.

Prints, per pseudocount: seconds per step, the sweeps per step the trainer chose, the site
updates per second of the whole training (sampling and everything else a step does), the
fresh-chain Pearson after 100, 300 and 1000 steps and after 60 and 120 s, and the training time
at which it first reached 0.95.

With ``--cli STEPS`` the same fit runs through the command line instead: the model is written
as a TOML file (``model_file``), the alignment and weights as .npy files, and
``factorgraph fit MODEL DATA --weights W --steps STEPS -o OUT`` runs with the chains, threads
and seed chosen; its own summary is printed (it ends with the fresh-chain check at the returned
θ), then the returned θ is assessed here as above.

Run:  python benchmarks/bench_pf00014.py [--seconds 120] [--steps 1000] [--chains 1000]
      [--threads 2] [--every 10] [--pseudocount 0.01 ...] [--assess-chains 1000] [--cli STEPS]
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

import factorgraph as fg
import objectives
from factorgraph.potts import potts_model, potts_model_file

STEP_MARKS = (100, 300, 1000)
TIME_MARKS = (60.0, 120.0)


def load() -> tuple[np.ndarray, np.ndarray]:
    """The alignment as the library reads the FASTA file (protein alphabet, 80% identity
    weights): the numerical and weight files in benchmarks/data/pf00014, exactly and to 1e-6
    (tests/factorgraph/test_alignment.py)."""
    alignment = fg.datasets.load_pf00014()
    return alignment.states, alignment.weights


def fit_on_the_command_line(
    g: fg.FactorGraph,
    data: np.ndarray,
    weights: np.ndarray,
    pseudocount: float,
    args: argparse.Namespace,
    folder: pathlib.Path,
) -> np.ndarray:
    """``factorgraph fit`` with the library's defaults; prints its summary, returns its θ."""
    (folder / "model.toml").write_text(potts_model_file(data.shape[1], 21, pseudocount))
    np.save(folder / "data.npy", data)
    np.save(folder / "weights.npy", weights)
    command = [
        sys.executable,
        "-m",
        "factorgraph",
        "fit",
        str(folder / "model.toml"),
        str(folder / "data.npy"),
        "--weights",
        str(folder / "weights.npy"),
        "--steps",
        str(args.cli),
        "--chains",
        str(args.chains),
        "--threads",
        str(args.threads),
        "--seed",
        "0",
        "-q",
        "-o",
        str(folder / "fit.npz"),
    ]
    print("$ factorgraph " + " ".join(command[3:]).replace(str(folder) + "/", ""), flush=True)
    subprocess.run(command, check=True)
    fitted, theta = fg.load(folder / "fit.npz")
    if fitted.compile().fingerprint() != g.compile().fingerprint():
        raise SystemExit("the model file does not build the benchmark's model")
    return theta


def train(g: fg.FactorGraph, target: np.ndarray, args: argparse.Namespace) -> tuple[list, fg.FitResult, float, int]:
    """Fit with the defaults, copying the returned θ at the step and time marks and every
    ``args.every`` seconds; returns the copies (label, step, training seconds, θ, sweeps),
    the result, the training seconds and the step at which the fit landed (-1: never)."""
    trainer = fg.Trainer(g, [objectives.MomentMatching(target)], n_chains=args.chains, seed=0, n_threads=args.threads)
    copies: list[tuple[str, int, float, np.ndarray, int]] = []
    time_marks = list(TIME_MARKS)
    next_copy = args.every
    paused = 0.0  # the callback's own time, left out of the training time

    def watch(info: dict) -> None:
        nonlocal next_copy, paused
        began = time.perf_counter()
        step, seconds = info["step"], info["time"] - paused
        labels = [f"{step} steps"] if step in STEP_MARKS else []
        while time_marks and seconds >= time_marks[0]:
            labels.append(f"{time_marks.pop(0):.0f} s")
        if seconds >= next_copy:
            labels.append("")
            next_copy += args.every
        if labels:
            copies.append(
                (", ".join(x for x in labels if x), step, seconds, trainer.result_theta(), int(info["sweeps"]))
            )
        paused += time.perf_counter() - began
        if seconds >= args.seconds and step >= args.steps:
            raise StopIteration

    result = trainer.fit(max_steps=10**7, callback=watch, progress=False, assess=False)
    landed = -1 if trainer.landing.step is None else trainer.landing.step
    return copies, result, float(result.history["time"][-1]) - paused, landed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0, help="train at least this long")
    parser.add_argument("--steps", type=int, default=1000, help="and at least this many steps")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=float, default=10.0, help="copy θ every this many seconds of training")
    parser.add_argument(
        "--pseudocount", type=float, nargs="*", default=None, help="pseudocounts to run (default: 0.01 and 1/M_eff)"
    )
    parser.add_argument("--assess-chains", type=int, default=1000)
    parser.add_argument("--assess-budget", type=float, default=60.0, help="seconds per assessment at most")
    parser.add_argument(
        "--cli", type=int, default=None, metavar="STEPS", help="fit through `factorgraph fit --steps STEPS` instead"
    )
    args = parser.parse_args()

    data, weights = load()
    n, q = data.shape[1], 21
    m_eff = float(weights.sum())
    g = potts_model(n, q)
    print(
        f"PF00014: {len(data)} sequences (M_eff = {m_eff:.0f}), {n} positions, q = {q}, "
        f"{g.n_features:,} parameters; {args.chains} chains, {args.threads} threads, library defaults"
    )
    for pseudocount in args.pseudocount or (0.01, 1.0 / m_eff):
        target = fg.moments(g, data, weights=weights, pseudocount=pseudocount)
        if args.cli is not None:
            print(f"\npseudocount {pseudocount:.4g}, through the command line:")
            with tempfile.TemporaryDirectory() as folder:
                theta = fit_on_the_command_line(g, data, weights, pseudocount, args, pathlib.Path(folder))
            a = fg.assess(
                g,
                theta,
                target,
                n_chains=args.assess_chains,
                seed=1,
                n_threads=args.threads,
                time_budget=args.assess_budget,
                progress=False,
            )
            print(
                f"  assessed here: fresh-chain Pearson {a.pearson:.4f}, rms z {a.rms:.3g}"
                + ("" if a.equilibrated else "  (fresh chains not equilibrated)"),
                flush=True,
            )
            continue
        copies, result, seconds, landed = train(g, target, args)
        sweeps = result.history["sweeps"]
        updates = float(sweeps.sum()) * args.chains * n
        print(
            f"\npseudocount {pseudocount:.4g}: {result.n_steps} steps in {seconds:.1f} s "
            f"({seconds / result.n_steps:.3f} s per step); sweeps per step from {int(sweeps[0])} to "
            f"{int(sweeps[-1])}; landed at step {landed}; {updates / seconds / 1e6:.2f} M site updates/s "
            "over the whole training (the sweeps and everything else a step does)"
        )
        reached = None
        for label, step, at, theta, used in copies:
            a = fg.assess(
                g,
                theta,
                target,
                n_chains=args.assess_chains,
                seed=1,
                n_threads=args.threads,
                time_budget=args.assess_budget,
                progress=False,
            )
            flag = "" if a.equilibrated else "  (fresh chains not equilibrated)"
            print(
                f"  step {step:6d}  {at:7.1f} s  {used:3d} sweeps/step  fresh-chain Pearson {a.pearson:.4f}  "
                f"rms z {a.rms:.3g}  {label}{flag}",
                flush=True,
            )
            if reached is None and a.pearson >= 0.95:
                reached = (step, at)
        print(
            "  reached 0.95 on fresh chains: "
            + (f"step {reached[0]}, {reached[1]:.1f} s of training" if reached else "no")
        )


if __name__ == "__main__":
    main()
