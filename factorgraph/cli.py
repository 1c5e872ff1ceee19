"""The ``factorgraph`` command (also ``python -m factorgraph``).

Subcommands: ``demo`` (the main job on the bundled digits), ``fit``, ``check``, ``sample``,
``exact``, ``info`` and ``kinds``. :func:`main` returns the exit code: 0 on success, 1 for a
library error (one line on standard error, ``factorgraph: error: ...``; ``--debug`` shows the
traceback), 2 for a usage error, 3 and 4 for a ``check`` that finds a mismatch or chains that
did not equilibrate, 130 when interrupted (Ctrl-C). Results go to standard output; progress bars
and log messages (the ``logging`` logger ``"factorgraph"``, configured here and nowhere in the
library) go to standard error. See docs/cli.rst.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main", "build_parser"]

_EPILOG = {
    "main": """\
examples:
  factorgraph demo                                   fit the bundled digits (the README's first command)
  factorgraph info model.toml                        sizes, feature groups, colours, memory estimate
  factorgraph fit model.toml data.npy -o fitted.npz  train with persistent chains; save model and theta
  factorgraph check model.toml fitted.npz data.npy   does the model at theta match the data? (fresh chains)
  factorgraph sample fitted.npz -n 1000 -o draws.npy draw from the fitted model
  factorgraph exact small.toml data.csv              solve a small model exactly
  factorgraph fit family.fasta -o potts.npz          fit the Potts model of a protein alignment
  factorgraph contacts potts.npz --top 50            its pairs of sites ranked by contact score

exit codes: 0 success, 1 error (bad file, data or model), 2 usage error, 3 check: the model does not
match its targets, 4 check: the fresh chains did not equilibrate, 130 interrupted
""",
    "demo": """\
examples:
  factorgraph demo
  factorgraph demo --steps 200 --chains 500 --out digits.npz
""",
    "fit": """\
DATA holds state indices or the variables' values (e.g. -1 and 1 for spins; see --data-units),
one row per sample and one column per variable: a .npy array, a .npz archive (its one array,
or --data-key NAME) or a .csv file of comma-separated numbers (a first line that is not
numbers is a header; lines starting with # are skipped). Flags
override the model file's settings. Ctrl-C stops at the end of a step (exit code 130); with
--checkpoint-dir it leaves a checkpoint there and prints the command that resumes.

MODEL may instead be an alignment (.fasta, .fa, .a2m, .a3m, .sto, .stockholm, gzipped or not):
then the Potts model of its sites (a Potential per site and per pair) is fitted to its
sequences, read with --alphabet and reweighted at --identity (no DATA or --weights). Rows,
columns and sites in messages count from 0.

examples:
  factorgraph fit model.toml data.npy -o fitted.npz
  factorgraph fit model.toml data.csv --steps 500 --chains 1000 --seed 1 --plot fit.png
  factorgraph fit model.toml data.npz --data-key train --weights w.npy -q
  factorgraph fit model.toml data.npy --checkpoint-dir run/ -o fitted.npz
  factorgraph fit model.toml --checkpoint-dir run/ --resume -o fitted.npz
  factorgraph fit model.toml data.npy --scheduler tcp://10.0.0.5:8786 -o fitted.npz
  factorgraph fit model.toml data.npy --sampler mh --sampler-option proposal=\"uniform\"
  factorgraph fit PF00014.fasta --alphabet protein --identity 0.8 -o potts.npz
""",
    "contacts": """\
FITTED is a fitted Potts model (.npz, as fit -o writes), every site with the same number of
states. A pair's score is the Frobenius norm of its couplings in the zero-sum gauge, the gap
state left out, with the average-product correction. Sites count from 0.

examples:
  factorgraph contacts potts.npz --top 53 --min-separation 5
  factorgraph contacts potts.npz -o contacts.csv
""",
    "check": """\
Runs fresh chains at THETA until independent chains agree (split R-hat <= 1.01 with enough
effective draws or, with 64 chains or more, the chains no longer remembering their starts),
then compares their feature means with the targets the model file's
objectives take from DATA (as fit computes them), in units of the Monte Carlo standard error.
THETA is a fitted .npz of the same model (what fit -o writes), or a .npy, .csv or .txt of
n_features numbers. Prints the rms and largest |z|, the Pearson correlation of connected
two-site correlations, the burn-in, the worst features and a verdict.

exit codes: 0 the model matches its targets within noise, 3 it does not (rms z above 1.5 or a
|z| above sqrt(2 ln 2K) + 3), 4 the chains did not equilibrate within --max-sweeps or
--time-budget (the figures are unreliable), 1 error

examples:
  factorgraph check model.toml fitted.npz data.npy
  factorgraph check model.toml theta.npy data.csv --chains 1000 --seed 1 --time-budget 600
""",
    "sample": """\
MODEL is a fitted .npz (its saved theta is used) or a TOML model file (theta from --theta, or
else the file's starting theta). --theta takes a fitted .npz of the same model, or a .npy, .txt or
.csv of n_features numbers. Samples are state indices; -o writes them as .npy or .csv (by the
file name); without -o the mean value of each variable is printed.

examples:
  factorgraph sample fitted.npz -n 10000 -o draws.npy
  factorgraph sample model.toml --theta fitted.npz -n 500 --burn-in 2000 --thin 20 -o draws.csv
""",
    "exact": """\
Enumerates every joint state (at most 2**22), so only for small models. The objectives are
the model file's; a target from data needs DATA (as for fit).

examples:
  factorgraph exact small.toml
  factorgraph exact small.toml data.csv -o exact.npz
""",
    "info": """\
MODEL is a TOML model file or a fitted .npz. Without MODEL: versions, OpenMP and threads.

examples:
  factorgraph info model.toml
  factorgraph info fitted.npz --chains 4096
  factorgraph info
""",
}


def _integer(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}; got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None


def _option(text: str) -> tuple[str, Any]:
    """KEY=VALUE, the value read as a TOML value (a bare word is a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python name, e.g. n_sweeps=2; got {text!r}")
    try:
        return key.strip(), tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), value


def _positive_number(text: str) -> float:
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}")
    return value


def _common() -> argparse.ArgumentParser:
    """-v, -q and --debug, accepted after the subcommand too (without overriding ones before it)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("output")
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log messages")
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars, warnings and errors only",
    )
    group.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")
    return common


def _sub(commands: Any, name: str, help: str, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=_EPILOG.get(name),
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``factorgraph`` command."""
    from factorgraph import __version__
    from factorgraph._cli_alignment import run_contacts
    from factorgraph._cli_commands import run_check, run_exact, run_fit, run_sample
    from factorgraph._cli_demo import run_demo, run_kinds
    from factorgraph._cli_info import run_info

    positive, count = _integer(1), _integer(0)
    parser = argparse.ArgumentParser(
        prog="factorgraph",
        description="Maximum-entropy models on factor graphs.",
        epilog=_EPILOG["main"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"factorgraph-maxent {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings and errors only")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    common = _common()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _sub(commands, "demo", "fit an Ising model to the bundled digits (the main job)", common)
    demo.add_argument("--steps", type=count, default=1000, help="training steps (default 1000)")
    demo.add_argument("--sweeps", type=positive, default=5, help="Gibbs sweeps per step (default 5)")
    demo.add_argument("--chains", type=positive, default=1000, help="persistent chains (default 1000)")
    demo.add_argument("--pseudocount", type=_number, default=0.01)
    demo.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    demo.add_argument("--seed", type=count, default=0)
    demo.add_argument("--out", default=None, help="save the fitted model to this .npz file")
    demo.set_defaults(run=lambda args, out: run_demo(args))

    fit = _sub(commands, "fit", "train the model of a TOML file on data with persistent chains", common)
    fit.add_argument("model", metavar="MODEL", help="TOML model file, or an alignment for its Potts model")
    fit.add_argument("data", metavar="DATA", nargs="?", help="data file: .npy, .npz or .csv of state indices")
    fit.add_argument("-o", "--out", metavar="OUT", help="write the fitted model and theta to this .npz file")
    fit.add_argument("--weights", metavar="FILE", help="sample weights, one per data row (.npy, .npz or .csv)")
    fit.add_argument("--data-key", metavar="NAME", help="the array to read from a .npz DATA file")
    fit.add_argument(
        "--data-units",
        choices=("auto", "states", "values"),
        default="auto",
        help="DATA holds state indices or the variables' values (default: whichever reading is valid)",
    )
    fit.add_argument("--plot", metavar="FILE", help="draw the convergence history to this image (matplotlib)")
    fit.add_argument("--checkpoint-dir", metavar="D", help="write checkpoints to this folder")
    fit.add_argument("--checkpoint-every", metavar="K", type=positive, help="steps between checkpoints")
    fit.add_argument("--resume", action="store_true", help="continue the fit checkpointed in --checkpoint-dir")
    fit.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="shard the chains over the Dask cluster of this scheduler (e.g. tcp://host:8786); "
        "the same fit as on one machine. Needs factorgraph-maxent[distributed]",
    )
    settings = fit.add_argument_group("settings (override the model file)")
    settings.add_argument("--steps", type=count, help="most training steps (max_steps)")
    settings.add_argument("--tol", type=_number, help="θ drift tolerance of the convergence test (0: no early stop)")
    settings.add_argument("--chains", type=positive, help="persistent chains")
    settings.add_argument("--sweeps", type=positive, help="sweeps per step")
    settings.add_argument("--seed", type=count, help="seeds the chains: same seed, same fit")
    settings.add_argument("--threads", type=int, help="sampler threads (default: all cores)")
    settings.add_argument("--sampler", metavar="NAME", help="the sampler, by registered name (e.g. gibbs, mh)")
    settings.add_argument(
        "--sampler-option",
        metavar="KEY=VALUE",
        type=_option,
        action="append",
        default=[],
        help="a sampler option, repeatable; VALUE is read as in a model file (a number, true, a quoted string)",
    )
    family = fit.add_argument_group("when MODEL is an alignment")
    family.add_argument(
        "--alphabet", default="protein", help="protein, rna, dna or the symbols, gap first (default protein)"
    )
    family.add_argument("--identity", type=_number, default=0.8, help="sequence reweighting threshold (default 0.8)")
    family.add_argument("--pseudocount", type=_number, help="mixed into the frequencies (default 1 / M_eff)")
    fit.set_defaults(run=run_fit)

    contacts = _sub(commands, "contacts", "rank the pairs of sites of a fitted Potts model by contact score", common)
    contacts.add_argument("fitted", metavar="FITTED", help="fitted Potts model (.npz)")
    contacts.add_argument("--top", type=positive, help="print the best N pairs (default: L, the number of sites)")
    contacts.add_argument("--min-separation", type=count, default=0, help="only pairs this far apart along the chain")
    contacts.add_argument("-o", "--out", metavar="FILE", help="write every pair to this CSV file instead (i,j,score)")
    contacts.add_argument("--gap", default="0", help="the state left out of the scores, or 'none' (default 0)")
    contacts.add_argument("--no-apc", action="store_true", help="no average-product correction")
    contacts.set_defaults(run=run_contacts)

    check = _sub(
        commands, "check", "measure how well the model at a fitted theta matches its targets, on fresh chains", common
    )
    check.add_argument("model", metavar="MODEL", help="TOML model file")
    check.add_argument("theta", metavar="THETA", help="theta: a fitted .npz of the model, or .npy/.csv/.txt numbers")
    check.add_argument("data", metavar="DATA", nargs="?", help="data file, when targets come from data")
    check.add_argument("--weights", metavar="FILE", help="sample weights, one per data row")
    check.add_argument("--data-key", metavar="NAME", help="the array to read from a .npz DATA file")
    check.add_argument(
        "--data-units",
        choices=("auto", "states", "values"),
        default="auto",
        help="DATA holds state indices or the variables' values (default: whichever reading is valid)",
    )
    check.add_argument("--chains", type=positive, default=256, help="fresh chains (default 256)")
    check.add_argument("--seed", type=count, help="seeds the chains (default: the model file's seed)")
    check.add_argument("--threads", type=int, help="sampler threads (default: the model file's, else all cores)")
    check.add_argument("--max-sweeps", type=_integer(16), default=20_000, help="most burn-in sweeps (default 20000)")
    check.add_argument(
        "--time-budget", type=_positive_number, metavar="SECONDS", help="wall-clock seconds for burn-in and measurement"
    )
    check.add_argument("--worst", type=count, default=5, help="features with the largest |z| to list (default 5)")
    check.set_defaults(run=run_check)

    sample = _sub(commands, "sample", "draw samples from a model", common)
    sample.add_argument("model", metavar="MODEL", help="fitted .npz model, or TOML model file")
    sample.add_argument("-n", type=positive, required=True, metavar="N", help="number of samples")
    sample.add_argument("-o", "--out", metavar="FILE", help="write the samples to FILE (.npy or .csv)")
    sample.add_argument("--theta", metavar="FILE", help="theta from a fitted .npz, or a .npy/.csv/.txt vector")
    sample.add_argument("--burn-in", type=count, default=1000, help="sweeps before the first sample (default 1000)")
    sample.add_argument("--thin", type=positive, default=10, help="sweeps between samples of a chain (default 10)")
    sample.add_argument("--chains", type=positive, help="chains run side by side (default min(N, 256))")
    sample.add_argument("--seed", type=count, help="seeds the chains (default: the model file's seed)")
    sample.add_argument("--threads", type=int, help="sampler threads (default: all cores)")
    sample.set_defaults(run=run_sample)

    exact = _sub(commands, "exact", "fit a small model exactly by enumerating its states", common)
    exact.add_argument("model", metavar="MODEL", help="TOML model file")
    exact.add_argument("data", metavar="DATA", nargs="?", help="data file, when targets come from data")
    exact.add_argument("-o", "--out", metavar="OUT", help="write the model and the exact theta to this .npz file")
    exact.add_argument("--weights", metavar="FILE", help="sample weights, one per data row")
    exact.add_argument("--data-key", metavar="NAME", help="the array to read from a .npz DATA file")
    exact.add_argument(
        "--data-units",
        choices=("auto", "states", "values"),
        default="auto",
        help="DATA holds state indices or the variables' values (default: whichever reading is valid)",
    )
    exact.set_defaults(run=run_exact)

    info = _sub(commands, "info", "describe a model, or this installation when no model is given", common)
    info.add_argument("model", metavar="MODEL", nargs="?", help="TOML model file or fitted .npz")
    info.add_argument("--chains", type=positive, help="chains for the memory estimate (default: the model's)")
    info.set_defaults(run=lambda args, out: run_info(args, out) if args.model else _show_config(out))

    kinds = _sub(commands, "kinds", "build and compile a model of every feature kind; fit one exactly", common)
    kinds.add_argument("--size", type=int, default=16, help="side of the spin lattice (default 16)")
    kinds.add_argument("--seed", type=int, default=0)
    kinds.set_defaults(run=lambda args, out: run_kinds(args))
    return parser


def _show_config(out: Any) -> int:
    from factorgraph import show_config

    show_config(file=out)
    return 0


class _Formatter(logging.Formatter):
    """Plain messages for INFO; ``factorgraph: warning: ...`` and the like for the rest."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno != logging.INFO:
            text = f"factorgraph: {record.levelname.lower()}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _configure_logging(verbose: int, quiet: bool) -> tuple[logging.Logger, logging.Handler, tuple[int, bool]]:
    logger = logging.getLogger("factorgraph")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    saved = (logger.level, logger.propagate)
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False
    return logger, handler, saved


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0, 1 error, 2 usage, 3 and 4 from ``check``,
    130 interrupted).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int

    Examples
    --------
    >>> from factorgraph.cli import main
    >>> main(["sample", "no-such-model.npz", "-n", "5"])  # the message goes to standard error
    1
    """
    from factorgraph._cli_commands import INTERRUPTED
    from factorgraph._errors import FactorGraphError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    debug = bool(getattr(args, "debug", False))
    logger, handler, saved = _configure_logging(getattr(args, "verbose", 0) or 0, bool(getattr(args, "quiet", False)))
    try:
        return int(args.run(args, sys.stdout))
    except KeyboardInterrupt:
        print("factorgraph: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (FactorGraphError, OSError) as exc:
        if debug:
            raise
        print(f"factorgraph: error: {exc}", file=sys.stderr)
        return 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


if __name__ == "__main__":
    sys.exit(main())
