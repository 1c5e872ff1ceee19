"""Plots of a fit: convergence, moments, marginals and learned couplings.

matplotlib is an optional dependency (``pip install "factorgraph-maxent[plot]"``); it is
imported when a plot is drawn, never when :mod:`factorgraph` is imported. Every function takes
an optional ``ax=`` (or ``fig=`` when it draws several panels) and returns the matplotlib Axes
or Figure it drew on, so plots compose and save with ``fig.savefig(path)``.

Model estimates come from chain states (e.g. ``result.states``), with Monte Carlo error bars,
or from the exact engine when no states are given and the model is small enough to enumerate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from factorgraph import exact
from factorgraph._errors import DataError, ModelSpecError, UnknownGroupError
from factorgraph._plot_common import Fitted, exact_or_explain, pyplot, theta_and_states
from factorgraph._plot_couplings import coupling_matrix, couplings
from factorgraph._validation import check_scope, check_scope_table, check_states, message
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from factorgraph._fit_result import FitResult
    from factorgraph.compiled import CompiledGraph
    from factorgraph.graph import FactorGraph

__all__ = ["convergence", "moments", "marginals", "couplings", "coupling_matrix"]

# history keys drawn by convergence(): {key: (panel, line label)}; "values" has its own panel
_SERIES = {
    "mismatch": ("Mismatch and residual", "mismatch RMS"),
    "mismatch_max": ("Mismatch and residual", "mismatch max"),
    "residual": ("Mismatch and residual", "residual RMS"),
    "residual_max": ("Mismatch and residual", "residual max"),
    "step_norm": ("θ change", "max |Δθ|"),
    "grad_norm": ("θ change", "gradient norm"),
    "change_rate": ("Sampler", "change rate"),
    "lr_scale": ("Sampler", "learning-rate factor"),
    "sweeps": ("Chains", "sweeps per step"),
    "tau": ("Chains", "sweeps to forget their states"),
}
# panel titles in drawing order, their y labels and whether a log scale suits them
_PANELS = {
    "Mismatch and residual": ("z (units of the MCSE)", True),
    "Objective terms": ("value in L(θ)", False),
    "θ change": ("size", True),
    "Sampler": ("fraction / factor", False),
    "Chains": ("sweeps", True),
    "Other": ("value", False),
}
_NOT_PLOTTED = {"time", "values"}


def _log_if_positive(ax: Axes, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite > 0):
        ax.set_yscale("log")


# -- convergence -------------------------------------------------------------------------------


def convergence(
    result: FitResult | Mapping[str, np.ndarray],
    labels: Sequence[str] | None = None,
    x: Literal["step", "time"] = "step",
    fig: Figure | None = None,
) -> Figure:
    """The history of a fit: moment mismatch, objective terms, θ change and sampler figures.

    One panel per kind of series, drawn against the step (or the time). A series that is NaN
    at every step (e.g. the mismatch of a fit without a matching term) is left out, and so is
    a panel left empty.

    * **Mismatch and residual** (log scale): the RMS and the maximum of the standardised moment
      mismatch ``|m − μ̂|`` / MCSE and of the standardised residual (the whole objective's
      ascent direction over its noise), with a dashed line at 1, the Monte Carlo noise level a
      converged fit's residual reaches (with priors or penalties the mismatch stays above it).
    * **Objective terms**: one line per column of ``history["values"]`` with finite values:
      each term's contribution to L(θ) (a penalty enters as a negative number).
    * **θ change** (log scale): the largest ``|Δθ|`` of each step and the gradient norm.
    * **Sampler**: the fraction of updates that changed a state, and the learning-rate factor.
    * **Chains** (log scale): the sweeps per step, and the sweeps the chains last needed to
      forget their states (see :class:`~factorgraph.Trainer`'s ``sweeps_per_step``).
    * **Other**: any other per-step series of the history, under its key.

    Parameters
    ----------
    result : FitResult or dict of str to ndarray
        A fit's result, or its ``history``.
    labels : sequence of str, optional
        Names of the objective terms, in the order given to the trainer (default ``term 0``,
        ``term 1``, ...).
    x : {"step", "time"}, default "step"
        The horizontal axis: the step number (from 1) or the seconds since the start.
    fig : matplotlib Figure, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib Figure
        Its axes are the panels, top to bottom, each with a title.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, objectives
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> terms = [objectives.MomentMatching([0.5, -0.3]), objectives.L2(0.01)]
    >>> result = fg.Trainer(g, terms, n_chains=64, seed=0).fit(max_steps=40, progress=False)
    >>> fig = fg.plot.convergence(result, labels=["moments", "L2"])
    >>> [ax.get_title() for ax in fig.axes]
    ['Mismatch and residual', 'Objective terms', 'θ change', 'Sampler', 'Chains']
    """
    plt = pyplot()
    history = result.history if hasattr(result, "history") else result
    if not isinstance(history, Mapping):
        raise DataError(message("result", "plot.convergence", "a FitResult or its history dict", result))
    history = {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}
    n_steps = max((len(v) for v in history.values()), default=0)
    if x == "step":
        steps = np.arange(1, n_steps + 1, dtype=np.float64)
    elif x == "time" and "time" in history:
        steps = history["time"]
    else:
        raise ModelSpecError(message("x", "plot.convergence", "'step' or 'time' (with a recorded time)", x))

    series: dict[str, list[tuple[np.ndarray, str]]] = {title: [] for title in _PANELS}
    for key, values in history.items():
        if key in _NOT_PLOTTED or values.ndim != 1 or not np.isfinite(values).any():
            continue
        # a key this module does not know (one added to the history later) still gets drawn
        title, label = _SERIES.get(key, ("Other", key.replace("_", " ")))
        series[title].append((values, label))
    values = history.get("values", np.zeros((n_steps, 0)))
    values = values[:, None] if values.ndim == 1 else values
    if labels is not None and len(labels) != values.shape[1]:
        raise ModelSpecError(
            message("labels", "plot.convergence", f"{values.shape[1]} names, one per objective term", labels)
        )
    names = list(labels) if labels is not None else [f"term {j}" for j in range(values.shape[1])]
    series["Objective terms"] = [
        (values[:, j], names[j]) for j in range(values.shape[1]) if np.isfinite(values[:, j]).any()
    ]
    panels = [(title, lines) for title, lines in series.items() if lines]

    if fig is None:
        fig = plt.figure(figsize=(7, 2.2 * max(len(panels), 1) + 0.6), layout="constrained")
    axes = fig.subplots(max(len(panels), 1), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, lines) in zip(axes, panels):
        ylabel, log = _PANELS[title]
        for ys, label in lines:
            ax.plot(steps, ys, label=label)
        if title == "Mismatch and residual":
            ax.axhline(1.0, color="0.4", linestyle="--", linewidth=1, label="noise level")
        if log:
            _log_if_positive(ax, np.concatenate([v for v, _ in lines]))
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    if not panels:
        axes[0].set_title("Nothing recorded")
    axes[-1].set_xlabel("step" if x == "step" else "time (s)")
    return fig


# -- moments -----------------------------------------------------------------------------------


def _model_moments(graph: CompiledGraph, theta: np.ndarray, states: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """E[f] and its Monte Carlo standard error: from independent chains, or exact (error 0)."""
    if states is None:
        mean = exact_or_explain("plot.moments", lambda: exact.expectations(graph, theta))
        return mean, np.zeros_like(mean)
    n = len(states)
    mean = graph.feature_sums(states) / n
    second = graph.feature_sums(states, squared=True) / n
    return mean, np.sqrt(np.maximum(second - mean**2, 0.0) / n)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / denominator) if denominator > 0 else float("nan")


def moments(
    graph: FactorGraph | CompiledGraph,
    theta: Fitted | ArrayLike,
    target: ArrayLike,
    states: ArrayLike | None = None,
    groups: Sequence[str] | None = None,
    by_group: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """The model's feature means against the target means, with Monte Carlo error bars.

    Each trained feature (or each feature of the chosen ``groups``) whose target is finite is
    a point (target, model); points on the dashed line y = x are matched. With ``states``,
    the model's means are the chain averages
    ``feature_sums(states) / n_chains`` and the vertical bars are their standard errors
    σ_k / sqrt(n_chains) (the chains are independent); without, the means are exact and
    there are no bars. The title gives the Pearson correlation r of the points.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,), FitResult or ExactFitResult
        The parameters; a FitResult gives its θ and, unless ``states`` is given, its chains'
        final states.
    target : array_like of shape (n_features,)
        The target means in θ order (e.g. ``fg.moments(graph, data)``); NaN leaves a feature out.
    states : array_like of shape (n_chains, n_variables), optional
        Chain states (state indices). Default: the exact means (small models only).
    groups : sequence of str, optional
        The feature groups to show (default: every trained group).
    by_group : bool, default True
        One colour and legend entry per group.
    ax : matplotlib Axes, optional
        Where to draw; new axes by default.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ModelTooLargeError
        Without ``states``, for a model too large to enumerate.
    UnknownGroupError
        For a name in ``groups`` that no group has.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> ax = fg.plot.moments(g, np.array([0.5, -0.2]), target=[0.45, -0.2])
    >>> ax.get_title()
    'Model against target moments (r = 1)'
    """
    owner = "plot.moments"
    plt = pyplot()
    compiled = as_compiled(graph)
    theta, states = theta_and_states(compiled, theta, states, owner)
    target = np.asarray(target, dtype=np.float64)
    if target.shape != (compiled.n_features,):
        raise DataError(
            message("target", owner, f"an array of shape ({compiled.n_features},) in θ order", f"shape {target.shape}")
        )
    chosen = _group_indices(compiled, groups, owner)
    model, error = _model_moments(compiled, theta, states)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5), layout="constrained")
    if not by_group and chosen:
        chosen = [("features", np.concatenate([ids for _, ids in chosen]))]
    shown = []
    for name, ids in chosen:
        keep = np.isfinite(target[ids]) & (compiled.trainable[ids] if groups is None else True)
        ids = ids[keep]
        if not len(ids):
            continue
        shown.append(ids)
        points = ax.scatter(target[ids], model[ids], s=12, label=name, rasterized=len(ids) > 10_000, zorder=3)
        if states is not None:
            ax.errorbar(
                target[ids],
                model[ids],
                yerr=error[ids],
                fmt="none",
                ecolor=tuple(np.asarray(points.get_facecolor())[0].tolist()),
                elinewidth=1,
                alpha=0.6,
            )
    ids = np.concatenate(shown) if shown else np.zeros(0, dtype=np.int64)
    if len(ids):
        low = float(min(target[ids].min(), (model[ids] - error[ids]).min()))
        high = float(max(target[ids].max(), (model[ids] + error[ids]).max()))
        ax.plot([low, high], [low, high], color="0.4", linestyle="--", linewidth=1, label="y = x")
        ax.legend(fontsize="small")
    ax.set_xlabel("target mean")
    ax.set_ylabel("model mean" + (" (chains)" if states is not None else " (exact)"))
    ax.set_title(f"Model against target moments (r = {_correlation(target[ids], model[ids]):.4g})")
    return ax


def _group_indices(graph: CompiledGraph, groups: Sequence[str] | None, owner: str) -> list[tuple[str, np.ndarray]]:
    """(name, θ indices) of the chosen groups (default every group with a trained feature)."""
    names = list(graph.group_names)
    if isinstance(groups, str):
        groups = [groups]
    for name in groups or ():
        if name not in names:
            raise UnknownGroupError(f"{owner}: no feature group is named {name!r}; the groups are {names}.")
    out = []
    for j, name in enumerate(names):
        ids = np.arange(graph.group_theta[j], graph.group_theta[j + 1])
        if (groups is None and graph.trainable[ids].any()) or (groups is not None and name in groups):
            out.append((name, ids))
    return out


# -- marginals ---------------------------------------------------------------------------------


def marginals(
    graph: FactorGraph | CompiledGraph,
    theta: Fitted | ArrayLike,
    scopes: Sequence[Any],
    target: Sequence[Any] | None = None,
    states: ArrayLike | None = None,
    data: ArrayLike | None = None,
    fig: Figure | None = None,
) -> Figure:
    """The model's marginal distribution of chosen scopes, against an optional target.

    One panel per scope of one or two variables. Bars give the probability of each (joint)
    state, in row-major order (the last scope variable fastest), labelled by the state
    values. With ``states``, the probabilities are chain frequencies with standard errors
    sqrt(p (1 − p) / n_chains) as bars; without, they are exact. A target, given as tables or
    computed from ``data``, is drawn as a second bar beside each model bar.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,), FitResult or ExactFitResult
        As in :func:`moments`.
    scopes : sequence of int or of tuples of one or two ints
        The variables of each panel, e.g. ``[0, (0, 1)]``.
    target : sequence of array_like, optional
        One table per scope, with one axis per scope variable (shape ``n_states[scope]``).
    states : array_like of shape (n_chains, n_variables), optional
        Chain states. Default: the exact marginals (small models only).
    data : array_like of shape (N, n_variables), optional
        Samples (state indices) whose frequencies are the target; instead of ``target``.
    fig : matplotlib Figure, optional
        Where to draw; a new figure by default.

    Returns
    -------
    matplotlib Figure
        One axes per scope, in order.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> fig = fg.plot.marginals(g, np.array([0.5, -0.2]), scopes=[0, (0, 1)])
    >>> [round(float(p.get_height()), 4) for p in fig.axes[1].patches]  # P(x0, x1), exact
    [0.3655, 0.1345, 0.1345, 0.3655]
    """
    owner = "plot.marginals"
    plt = pyplot()
    compiled = as_compiled(graph)
    theta, states = theta_and_states(compiled, theta, states, owner)
    if isinstance(scopes, (int, np.integer)) or not len(scopes):
        raise ModelSpecError(message("scopes", owner, "a non-empty sequence of scopes", scopes, "E.g. [0, (0, 1)]."))
    checked = [check_scope(compiled, scope, owner) for scope in scopes]
    if any(len(ids) > 2 for ids, _ in checked):
        raise ModelSpecError(message("scopes", owner, "scopes of one or two variables", scopes))
    if target is not None and data is not None:
        raise DataError(f"{owner} got both target= and data=; pass one of them.")
    if target is not None and len(target) != len(checked):
        raise DataError(message("target", owner, f"{len(checked)} tables, one per scope", f"{len(target)} tables"))
    if data is not None:
        data = check_states(data, compiled.n_states, owner)
    names = list(graph.variable_names) if hasattr(graph, "variable_names") else [None] * compiled.n_variables

    n_cols = min(len(checked), 3)
    n_rows = -(-len(checked) // n_cols)
    if fig is None:
        fig = plt.figure(figsize=(4 * n_cols, 3 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[len(checked) :]:
        ax.remove()
    for j, ((ids, places), ax) in enumerate(zip(checked, axes)):
        size = int(np.prod(compiled.n_states[ids]))
        if states is None:
            model = exact_or_explain(owner, lambda ids=ids: exact.marginal(compiled, theta, ids)).ravel()
            error = None
        else:
            model = np.bincount(states[:, ids] @ places, minlength=size) / len(states)
            error = np.sqrt(model * (1 - model) / len(states))
        reference = None
        if target is not None:
            reference = check_scope_table(compiled, ids, target[j], owner, error=DataError)
        elif data is not None:
            reference = np.bincount(data[:, ids] @ places, minlength=size) / len(data)
        _marginal_panel(ax, compiled, ids, model, error, reference, names)
    return fig


def _marginal_panel(
    ax: Axes,
    graph: CompiledGraph,
    ids: np.ndarray,
    model: np.ndarray,
    error: np.ndarray | None,
    reference: np.ndarray | None,
    names: list[str | None],
) -> None:
    positions = np.arange(len(model), dtype=np.float64)
    width = 0.4 if reference is not None else 0.8
    shift = -width / 2 if reference is not None else 0.0
    ax.bar(positions + shift, model, width, yerr=error, label="model", capsize=2 if error is not None else 0)
    if reference is not None:
        ax.bar(positions - shift, reference, width, label="target")
        ax.legend(fontsize="small")
    grids = np.meshgrid(*[graph.variable_values(int(v)) for v in ids], indexing="ij")
    if len(model) <= 16:  # beyond that, tick labels would overlap
        ax.set_xticks(positions, [",".join(f"{g.flat[s]:g}" for g in grids) for s in range(len(model))])
    label = ", ".join(names[v] or f"x{v}" for v in ids.tolist())
    ax.set_title(f"P({label})")
    ax.set_xlabel(f"state of {label}")
    ax.set_ylabel("probability")


# -- couplings ---------------------------------------------------------------------------------
