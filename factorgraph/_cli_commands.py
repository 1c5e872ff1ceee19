"""The ``fit``, ``sample`` and ``exact`` commands; the parser and exit codes are in :mod:`factorgraph.cli`."""

from __future__ import annotations

import argparse
import logging
import shlex
import time
from typing import Any, TextIO

import numpy as np

from factorgraph._cli_files import (check_model_path, check_samples_path, is_binary_model, read_data, read_model,
                                    read_theta, read_weights, write_samples)
from factorgraph._errors import DataError, ModelSpecFileError

__all__ = ["run_fit", "run_sample", "run_exact", "INTERRUPTED"]

logger = logging.getLogger("factorgraph")

#: The exit code of an interrupted command (128 + SIGINT), as shells report Ctrl-C.
INTERRUPTED = 130


def _progress(args: argparse.Namespace) -> bool | None:
    return False if getattr(args, "quiet", False) else None


def _need_spec(args: argparse.Namespace, command: str) -> Any:
    if is_binary_model(args.model):
        raise ModelSpecFileError(
            f"{args.model}: '{command}' needs a TOML model file (objectives and settings); a fitted .npz "
            "model holds the graph and θ only. 'info' and 'sample' take a fitted model.")
    spec, _, _ = read_model(args.model)
    return spec


def _data(spec: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """The data and weights the model's targets need (None, None when it takes none)."""
    if args.data is None:
        if args.weights is not None:
            raise DataError("--weights needs a DATA file.")
        if spec.needs_data:
            raise DataError(f"{args.model}: the model's targets come from data; pass a DATA file "
                            f"(factorgraph {args.command} {args.model} DATA).")
        return None, None
    if not spec.needs_data:
        raise DataError(f"{args.model}: the model takes no data (its objectives' targets are in the file); "
                        f"drop {args.data}, or write target = {{ from = \"data\" }} in [[objectives]].")
    data = read_data(args.data, np.asarray(spec.graph.n_states), args.data_key)
    weights = read_weights(args.weights, len(data)) if args.weights is not None else None
    logger.info("data: %d rows of %d variables from %s", data.shape[0], data.shape[1], args.data)
    return data, weights


def _overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Trainer overrides, fit-option overrides) from the command-line flags."""
    trainer = {k: v for k, v in (("n_chains", args.chains), ("sweeps_per_step", args.sweeps),
                                 ("seed", args.seed), ("n_threads", args.threads)) if v is not None}
    fit = {k: v for k, v in (("max_steps", args.steps), ("tol", args.tol)) if v is not None}
    return trainer, fit


def _fingerprint(graph: Any) -> str:
    return (graph if hasattr(graph, "factor_ptr") else graph.compile()).fingerprint()


def _resume_command(args: argparse.Namespace) -> str:
    """The command that finishes this run: --resume counts --steps (else the model file's
    max_steps) in all, so an explicit --steps goes with it, and so does --plot."""
    words = ["factorgraph", "fit", args.model] + ([args.data] if args.data else [])
    words += ["--checkpoint-dir", args.checkpoint_dir, "--resume"]
    words += ["--steps", str(args.steps)] if args.steps is not None else []
    words += ["-o", args.out] if args.out else []
    words += ["--plot", args.plot] if args.plot else []
    words += ["--scheduler", args.scheduler] if getattr(args, "scheduler", None) else []
    return " ".join(shlex.quote(w) for w in words)


CONNECT_TIMEOUT = 30.0  # seconds to reach the scheduler of --scheduler


def _connect(address: str) -> Any:
    """A Dask client of the scheduler at ``address``, for --scheduler."""
    from factorgraph._errors import ClusterError
    from samplers.sharded import _distributed

    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"--scheduler: cannot reach a Dask scheduler at {address!r} ({exc}). Start one "
                           "(dask scheduler; dask worker ADDRESS) or check the address.") from exc


def run_fit(args: argparse.Namespace, out: TextIO) -> int:
    """Train the model of a TOML file on a data file; print a summary."""
    if getattr(args, "scheduler", None) is None:
        return _run_fit(args, out, None)
    with _connect(args.scheduler) as client:
        return _run_fit(args, out, client)


def _run_fit(args: argparse.Namespace, out: TextIO, cluster: Any) -> int:
    import factorgraph as fg

    spec = _need_spec(args, "fit")
    if args.out:
        check_model_path(args.out)
    if args.plot:
        _check_plot_path(args.plot)  # before the fit, not after it
    trainer_overrides, fit_overrides = _overrides(args)
    fit_options = dict(spec.fit_options, **fit_overrides)
    if args.resume:
        if args.checkpoint_dir is None:
            raise DataError("--resume needs --checkpoint-dir D, the folder the interrupted fit wrote.")
        trainer = fg.Trainer.resume(args.checkpoint_dir, cluster=cluster)
        if _fingerprint(trainer.graph) != _fingerprint(spec.graph):
            raise DataError(f"{args.checkpoint_dir}: the checkpoint was written for another model than "
                            f"{args.model}.")
        # the interrupted call's own arguments, so that the rest of the run is the same bits. It
        # ends after --steps steps in all when given; else it finishes the interrupted call, or
        # continues a finished run up to the model file's max_steps
        done = trainer.step_count
        left = trainer.resume_args.get("max_steps", 0)
        if args.steps is not None or left == 0:
            left = max(fit_options["max_steps"] - done, 0)
        fit_options = dict(trainer.resume_args or fit_options, max_steps=left)
        logger.info("resuming from %s after %d steps; %d steps to go", args.checkpoint_dir, done,
                    fit_options["max_steps"])
    else:
        data, weights = _data(spec, args)
        if args.checkpoint_dir is not None:
            trainer_overrides["checkpoint_dir"] = args.checkpoint_dir
            if args.checkpoint_every is not None:
                trainer_overrides["checkpoint_every"] = args.checkpoint_every
        if cluster is not None:
            trainer_overrides["cluster"] = cluster
        trainer = spec.trainer(data, weights, **trainer_overrides)
    logger.info("fitting %s: %d features, %s chains", args.model, spec.graph.n_features,
                getattr(trainer.sampler, "n_chains", "?"))
    start = time.perf_counter()
    try:
        result = trainer.fit(progress=_progress(args), **fit_options)
    except KeyboardInterrupt:  # a trainer that does not stop by itself at a step boundary
        logger.warning("interrupted; nothing saved. Run again (with --checkpoint-dir D to be able to resume).")
        return INTERRUPTED
    elapsed = time.perf_counter() - start
    _summary(result, elapsed, out)
    if "interrupt" in result.message.lower():
        if args.checkpoint_dir is not None:
            logger.warning("interrupted; the checkpoint is in %s. Resume with:\n  %s", args.checkpoint_dir,
                           _resume_command(args))
        else:
            logger.warning("interrupted; nothing saved. Pass --checkpoint-dir D to be able to resume.")
        return INTERRUPTED
    if args.out:
        spec.graph.save(args.out, theta=result.theta)
        print(f"saved: {args.out} (model and theta)", file=out)
    if args.plot:
        _plot(result, args.plot)
        print(f"plot: {args.plot}", file=out)
    return 0


def _summary(result: Any, elapsed: float, out: TextIO) -> None:
    history = result.history
    last = {k: float(np.asarray(v)[-1]) for k, v in history.items() if k != "values" and len(v)}
    per_step = f", {elapsed / result.n_steps * 1e3:.1f} ms a step" if result.n_steps else ""
    print(f"converged: {'yes' if result.converged else 'no'} ({result.message})", file=out)
    print(f"steps: {result.n_steps} in {elapsed:.1f} s{per_step}", file=out)
    for key in ("mismatch", "residual"):
        if key in last:
            print(f"final {key}: rms {last[key]:.3g}, max {last.get(key + '_max', float('nan')):.3g} "
                  "(standardised; about 1 at the optimum)", file=out)


def _check_plot_path(path: str) -> None:
    """matplotlib is installed and can write an image of this type."""
    from pathlib import Path

    from factorgraph.plot import _pyplot

    _pyplot()  # MissingDependencyError, with how to install it, when matplotlib is absent
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in kinds:
        raise DataError(f"{path}: cannot draw a plot as {suffix or '(no extension)'!r}; name the file with one "
                        f"of {', '.join('.' + k for k in sorted(kinds))}.")


def _plot(result: Any, path: str) -> None:
    from factorgraph import plot

    figure = plot.convergence(result)  # MissingDependencyError when matplotlib is absent
    try:
        figure.savefig(path, dpi=100)
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def run_sample(args: argparse.Namespace, out: TextIO) -> int:
    """Draw samples from a TOML model (θ from --theta or the file) or a fitted .npz."""
    import factorgraph as fg

    if args.out:
        check_samples_path(args.out)
    spec, graph, theta = read_model(args.model)
    if args.theta is not None:
        theta = read_theta(args.theta, graph)
    elif spec is not None:
        theta = spec.theta0 if spec.theta0 is not None else graph.compile().theta_init
        logger.info("no --theta: sampling at the model file's starting θ")
    elif theta is None:
        raise DataError(f"{args.model}: the model file holds no θ; pass --theta FILE.")
    options: dict[str, Any] = {}
    sampler = "gibbs"
    if spec is not None:
        sampler, options = spec.sampler, dict(spec.sampler_options)
        options.pop("average_sweeps", None)
        if spec.n_threads is not None:
            options["n_threads"] = spec.n_threads
    if args.threads is not None:
        options["n_threads"] = args.threads
    seed = args.seed if args.seed is not None else (spec.seed if spec is not None else None)
    start = time.perf_counter()
    samples = fg.sample(graph, theta, args.n, sampler=sampler, n_chains=args.chains, burn_in=args.burn_in,
                        thin=args.thin, seed=seed, progress=_progress(args), **options)
    elapsed = time.perf_counter() - start
    print(f"samples: {samples.shape[0]} of {samples.shape[1]} variables in {elapsed:.1f} s", file=out)
    if args.out:
        write_samples(args.out, samples)
        print(f"saved: {args.out}", file=out)
    else:
        values = [np.asarray(graph.compile().variable_values(v))[samples[:, v]] for v in range(samples.shape[1])]
        means = np.array([v.mean() for v in values])
        print(f"mean value per variable: {np.array2string(means, precision=3, max_line_width=100)}", file=out)
    return 0


def run_exact(args: argparse.Namespace, out: TextIO) -> int:
    """Solve a small TOML model exactly; print θ by group and log Z."""
    from factorgraph import exact

    spec = _need_spec(args, "exact")
    if args.out:
        check_model_path(args.out)
    exact._n_joint(spec.graph.compile())  # refuse a model too large to enumerate before reading data
    data, weights = _data(spec, args)
    terms = spec.objectives_for(data, weights)
    if not terms:
        raise ModelSpecFileError(f"{args.model}: objectives: the file has no [[objectives]]; nothing to fit.")
    result = exact.fit(spec.graph, objectives=terms, theta0=spec.theta0)
    state = "converged" if result.success else "not converged"
    detail = "" if result.message == state else f" ({result.message})"
    print(f"exact fit: {state}{detail}, |gradient| {result.grad_norm:.2e}, {result.n_iter} iterations", file=out)
    print(f"log partition: {result.log_partition:.12g}", file=out)
    print("theta by group:", file=out)
    for grp in spec.graph.groups:
        values = result.theta[grp.theta_start : grp.theta_start + grp.n_features]
        fixed = "" if grp.trainable else ", fixed"
        print(f"  {grp.name} ({grp.kind}, {grp.n_features} features{fixed}):", file=out)
        for row in range(0, len(values), 6):
            print("    " + " ".join(f"{x:>15.9g}" for x in values[row : row + 6]), file=out)
    if args.out:
        spec.graph.save(args.out, theta=result.theta)
        print(f"saved: {args.out} (model and theta)", file=out)
    if not result.success:
        logger.error("the exact fit did not converge: %s", result.message)
        return 1
    return 0
