"""The ``fit``, ``check``, ``sample`` and ``exact`` commands; the parser and exit codes are in
:mod:`factorgraph.cli`."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import time
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from factorgraph._cli_files import (
    check_model_path,
    check_samples_path,
    is_binary_model,
    read_data,
    read_model,
    read_theta,
    read_weights,
    write_samples,
)
from factorgraph._errors import DataError, ModelSpecFileError
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from factorgraph.compiled import GraphLike

__all__ = ["run_fit", "run_check", "run_sample", "run_exact", "INTERRUPTED", "MISMATCH", "NOT_EQUILIBRATED"]

logger = logging.getLogger("factorgraph")

#: The exit code of an interrupted command (128 + SIGINT), as shells report Ctrl-C.
INTERRUPTED = 130
#: The exit code of ``check`` when the model does not match its targets within noise.
MISMATCH = 3
#: The exit code of ``check`` when the fresh chains did not equilibrate within the budgets.
NOT_EQUILIBRATED = 4


def _progress(args: argparse.Namespace) -> bool | None:
    return False if getattr(args, "quiet", False) else None


def _need_spec(args: argparse.Namespace, command: str) -> Any:
    if is_binary_model(args.model):
        raise ModelSpecFileError(
            f"{args.model}: '{command}' needs a TOML model file (objectives and settings); a fitted .npz "
            "model holds the graph and θ only. 'info' and 'sample' take a fitted model."
        )
    spec, _, _ = read_model(args.model)
    return spec


def _data(spec: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """The data and weights the model's targets need (None, None when it takes none)."""
    if args.data is None:
        if args.weights is not None:
            raise DataError("--weights needs a DATA file.")
        if spec.needs_data:
            raise DataError(
                f"{args.model}: the model's targets come from data; pass a DATA file "
                f"(factorgraph {args.command} {args.model} DATA)."
            )
        return None, None
    if not spec.needs_data:
        raise DataError(
            f"{args.model}: the model takes no data (its objectives' targets are in the file); "
            f'drop {args.data}, or write target = {{ from = "data" }} in [[objectives]].'
        )
    data = read_data(args.data, spec.graph, args.data_key, getattr(args, "data_units", "auto"))
    weights = read_weights(args.weights, len(data)) if args.weights is not None else None
    logger.info("data: %d rows of %d variables from %s", data.shape[0], data.shape[1], args.data)
    return data, weights


def _overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Trainer overrides, fit-option overrides) from the command-line flags."""
    trainer = {
        k: v
        for k, v in (
            ("n_chains", args.chains),
            ("sweeps_per_step", args.sweeps),
            ("seed", args.seed),
            ("n_threads", args.threads),
        )
        if v is not None
    }
    fit = {k: v for k, v in (("max_steps", args.steps), ("tol", args.tol)) if v is not None}
    return trainer, fit


def _with_sampler(spec: Any, args: argparse.Namespace) -> Any:
    """The model file's settings with --sampler and --sampler-option applied. Another sampler
    than the file's starts from no options: the file's are for its own sampler."""
    import samplers

    if args.sampler is None and not args.sampler_option:
        return spec
    name = args.sampler if args.sampler is not None else spec.sampler
    samplers.get(name)  # an unknown name is refused here, with the list of names
    options = dict(spec.sampler_options) if name == spec.sampler else {}
    if name != spec.sampler and spec.sampler_options:
        logger.info("--sampler %s: the model file's options for '%s' are not used", name, spec.sampler)
    options.update(args.sampler_option)
    return dataclasses.replace(spec, sampler=name, sampler_options=options)


def _fingerprint(graph: GraphLike) -> str:
    return as_compiled(graph).fingerprint()


def _resume_command(args: argparse.Namespace) -> str:
    """The command that finishes this run: --resume counts --steps (else the model file's
    max_steps) in all, so an explicit --steps goes with it, and so does --plot."""
    words = ["factorgraph", "fit", args.model] + ([args.data] if args.data else [])
    words += ["--checkpoint-dir", args.checkpoint_dir, "--resume"]
    words += ["--steps", str(args.steps)] if args.steps is not None else []
    words += ["-o", args.out] if args.out else []
    words += ["--plot", args.plot] if args.plot else []
    words += ["--scheduler", args.scheduler] if getattr(args, "scheduler", None) else []
    if getattr(args, "pseudocount", None) is not None:  # an alignment's own settings
        words += ["--pseudocount", repr(args.pseudocount)]
    if getattr(args, "alphabet", "protein") != "protein":
        words += ["--alphabet", args.alphabet]
    if getattr(args, "identity", 0.8) != 0.8:
        words += ["--identity", repr(args.identity)]
    return " ".join(shlex.quote(w) for w in words)


CONNECT_TIMEOUT = 30.0  # seconds to reach the scheduler of --scheduler


def _connect(address: str) -> Any:
    """A Dask client of the scheduler at ``address``, for --scheduler."""
    from factorgraph._errors import ClusterError
    from samplers._shards import distributed_module

    distributed = distributed_module()
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"--scheduler: cannot reach a Dask scheduler at {address!r} ({exc}). Start one "
            "(dask scheduler; dask worker ADDRESS) or check the address."
        ) from exc


def run_fit(args: argparse.Namespace, out: TextIO) -> int:
    """Train the model of a TOML file on a data file; print a summary."""
    if getattr(args, "scheduler", None) is None:
        return _run_fit(args, out, None)
    with _connect(args.scheduler) as client:
        return _run_fit(args, out, client)


def _run_fit(args: argparse.Namespace, out: TextIO, cluster: Any) -> int:
    import factorgraph as fg
    from factorgraph._cli_alignment import alignment_inputs, is_alignment

    family = alignment_inputs(args) if is_alignment(args.model) else None
    spec = _with_sampler(family[0] if family else _need_spec(args, "fit"), args)
    if args.out:
        check_model_path(args.out)
    if args.plot:
        _check_plot_path(args.plot)  # before the fit, not after it
    trainer_overrides, fit_overrides = _overrides(args)
    fit_options = dict(spec.fit_options, **fit_overrides)
    if args.resume:
        if args.sampler is not None or args.sampler_option:
            raise DataError(
                "--resume continues the checkpointed fit with its own sampler; drop --sampler and --sampler-option."
            )
        if args.checkpoint_dir is None:
            raise DataError("--resume needs --checkpoint-dir D, the folder the interrupted fit wrote.")
        trainer = fg.Trainer.resume(args.checkpoint_dir, cluster=cluster)
        if _fingerprint(trainer.graph) != _fingerprint(spec.graph):
            raise DataError(f"{args.checkpoint_dir}: the checkpoint was written for another model than {args.model}.")
        # the interrupted call's own arguments, so that the rest of the run is the same bits. It
        # ends after --steps steps in all when given; else it finishes the interrupted call, or
        # continues a finished run up to the model file's max_steps
        done = trainer.step_count
        left = trainer.resume_args.get("max_steps", 0)
        if args.steps is not None or left == 0:
            left = max(fit_options["max_steps"] - done, 0)
        fit_options = dict(trainer.resume_args or fit_options, max_steps=left)
        logger.info(
            "resuming from %s after %d steps; %d steps to go", args.checkpoint_dir, done, fit_options["max_steps"]
        )
    else:
        data, weights = family[1:] if family else _data(spec, args)
        if args.checkpoint_dir is not None:
            trainer_overrides["checkpoint_dir"] = args.checkpoint_dir
            if args.checkpoint_every is not None:
                trainer_overrides["checkpoint_every"] = args.checkpoint_every
        if cluster is not None:
            trainer_overrides["cluster"] = cluster
        trainer = spec.trainer(data, weights, **trainer_overrides)
    logger.info(
        "fitting %s: %d features, %s chains",
        args.model,
        spec.graph.n_features,
        getattr(trainer.sampler, "n_chains", "?"),
    )
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
            logger.warning(
                "interrupted; the checkpoint is in %s. Resume with:\n  %s", args.checkpoint_dir, _resume_command(args)
            )
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
    failures = getattr(result, "failures", ())
    print(f"converged: {'yes' if result.converged else 'no'}" + ("" if failures else f" ({result.message})"), file=out)
    for reason in failures:  # one line per failed criterion, each saying what to change
        print(f"  - {reason}", file=out)
    print(
        f"steps: {result.n_steps} in {elapsed:.1f} s{per_step}"
        + (f", {int(last['sweeps'])} sweeps a step at the end" if "sweeps" in last else ""),
        file=out,
    )
    for key in ("mismatch", "residual"):
        if key in last:
            print(
                f"final {key} (training chains): rms {last[key]:.3g}, max {last.get(key + '_max', float('nan')):.3g} "
                "(standardised; about 1 at the optimum)",
                file=out,
            )
    assessment = getattr(result, "assessment", None)
    if assessment is not None:
        pearson = "" if assessment.pearson is None else f", Pearson of connected correlations {assessment.pearson:.4g}"
        print(
            f"at the returned theta (fresh chains): residual rms {assessment.residual:.3g}, max "
            f"{assessment.residual_max:.3g}; moments rms z {assessment.rms:.3g}, max {assessment.max:.3g}{pearson}"
            f"{'' if assessment.equilibrated else ' (NOT equilibrated: not to be trusted)'}",
            file=out,
        )


def _check_plot_path(path: str) -> None:
    """matplotlib is installed and can write an image of this type."""
    from pathlib import Path

    from factorgraph._plot_common import pyplot

    pyplot()  # MissingDependencyError, with how to install it, when matplotlib is absent
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in kinds:
        raise DataError(
            f"{path}: cannot draw a plot as {suffix or '(no extension)'!r}; name the file with one "
            f"of {', '.join('.' + k for k in sorted(kinds))}."
        )


def _plot(result: Any, path: str) -> None:
    from factorgraph import plot

    figure = plot.convergence(result)  # MissingDependencyError when matplotlib is absent
    try:
        figure.savefig(path, dpi=100)
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def run_check(args: argparse.Namespace, out: TextIO) -> int:
    """Assess the TOML model at a θ file against the targets its objectives take from DATA."""
    import factorgraph as fg

    spec = _need_spec(args, "check")
    graph = spec.graph.compile()
    theta = read_theta(args.theta, spec.graph)
    data, weights = _data(spec, args)
    terms = spec.objectives_for(data, weights)
    target = _check_targets(terms, graph, args.model)
    options = dict(spec.sampler_options)
    options.pop("average_sweeps", None)  # assess averages the measurement itself
    threads = args.threads if args.threads is not None else spec.n_threads
    seed = args.seed if args.seed is not None else spec.seed
    logger.info(
        "checking %s at %s: %d features, %d fresh chains of '%s'",
        args.model,
        args.theta,
        graph.n_features,
        args.chains,
        spec.sampler,
    )
    found = fg.assess(
        graph,
        theta,
        target,
        n_chains=args.chains,
        sampler=spec.sampler,
        seed=seed,
        n_threads=threads,
        max_sweeps=args.max_sweeps,
        time_budget=args.time_budget,
        progress=_progress(args),
        **options,
    )
    _report(found, graph, terms, args.worst, out)
    if not found.equilibrated:
        return NOT_EQUILIBRATED
    return 0 if found.ok() else MISMATCH


def _check_targets(terms: list[Any], graph: GraphLike, model: str) -> np.ndarray:
    """One target per feature from the matching terms; every feature needs one."""
    from factorgraph._validation import describe_feature
    from objectives.moments import combined_targets

    matched, target = combined_targets(terms, graph.n_features)
    if not matched.all():
        missing = np.flatnonzero(~matched)
        compiled = as_compiled(graph)
        listed = "; ".join(describe_feature(compiled, int(k)) for k in missing[:3])
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise DataError(
            f"{model}: check compares every feature with its target, but no moment-matching objective "
            f"gives one for {len(missing)} of {graph.n_features} features: {listed}{more}. Add "
            '[[objectives]] name = "moment-matching" with a target for every feature (e.g. '
            'target = { from = "data" }).'
        )
    return target


def _report(found: Any, graph: GraphLike, terms: list[Any], worst: int, out: TextIO) -> None:
    state = "equilibrated" if found.equilibrated else "NOT equilibrated (the figures below are unreliable)"
    print(f"chains: {found.n_chains} fresh '{found.sampler}' chains, {state}", file=out)
    print(
        f"burn-in: {found.burn_in} sweeps, split R-hat {found.rhat:.4g}, ESS {found.ess:.0f}; measured over "
        f"{found.n_sweeps} sweeps in {found.seconds:.1f} s in all",
        file=out,
    )
    print(
        f"mismatch: rms z {found.rms:.3g} (bound {found.rms_bound:.3g}), max |z| {found.max:.3g} (bound "
        f"{found.max_bound:.3g}) over {graph.n_features} features",
        file=out,
    )
    if found.pearson is not None:
        print(f"pearson of connected correlations (target vs model): {found.pearson:.4g}", file=out)
    if worst and graph.n_features:
        print("largest |z|:", file=out)
        for line in found.describe(graph, worst):
            print(f"  {line}", file=out)
    others = sorted({type(t).__name__ for t in terms if not hasattr(t, "matched_moments")})
    if others and not found.ok():
        print(
            f"note: the objectives include {', '.join(others)}, whose optimum need not match the targets exactly",
            file=out,
        )
    if not found.equilibrated:
        verdict = "the fresh chains did not equilibrate; raise --max-sweeps or --time-budget, or use another sampler"
    elif found.ok():
        verdict = "the model matches its targets within noise"
    else:
        verdict = "the model does NOT match its targets"
    print(f"verdict: {verdict}", file=out)


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
    samples = fg.sample(
        graph,
        theta,
        args.n,
        sampler=sampler,
        n_chains=args.chains,
        burn_in=args.burn_in,
        thin=args.thin,
        seed=seed,
        progress=_progress(args),
        **options,
    )
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
    from factorgraph import enumeration, exact

    spec = _need_spec(args, "exact")
    if args.out:
        check_model_path(args.out)
    enumeration.n_joint_states(spec.graph.compile())  # refuse a model too large to enumerate before reading data
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
