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
from factorgraph._errors import DataError, MissingDependencyError, ModelSpecError, ModelTooLargeError, UnknownGroupError
from factorgraph._validation import check_scope, check_scope_table, check_states, check_theta, message
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from factorgraph.compiled import CompiledGraph
    from factorgraph.graph import FactorGraph
    from factorgraph.training import FitResult

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
_MAX_MATRIX = 4096  # variables in a coupling matrix: 128 MiB of float64


def _pyplot() -> Any:
    """matplotlib.pyplot, or an error that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "factorgraph.plot needs matplotlib, which is not installed. Install it with "
            'pip install "factorgraph-maxent[plot]" (or pip install matplotlib).'
        ) from exc
    return plt


def _theta_and_states(graph: CompiledGraph, theta: Any, states: Any, owner: str) -> tuple[np.ndarray, Any]:
    """θ and chain states from a fit's result (a FitResult's final states unless others are
    given; an exact fit has none) or from an array."""
    if hasattr(theta, "theta"):
        states = getattr(theta, "states", None) if states is None else states
        theta = theta.theta
    theta = check_theta(theta, graph.n_features, owner)
    if states is not None:
        states = check_states(states, graph.n_states, owner, name="states")
    return theta, states


def _exact_or_explain(owner: str, compute: Any) -> Any:
    try:
        return compute()
    except ModelTooLargeError as exc:
        raise ModelTooLargeError(f"{owner}: {exc} Pass states= (e.g. result.states) to use the chains.") from None


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
    plt = _pyplot()
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
        mean = _exact_or_explain("plot.moments", lambda: exact.expectations(graph, theta))
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
    theta: FitResult | Any,
    target: Any,
    states: Any = None,
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
    plt = _pyplot()
    compiled = as_compiled(graph)
    theta, states = _theta_and_states(compiled, theta, states, owner)
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
    theta: FitResult | Any,
    scopes: Sequence[Any],
    target: Sequence[Any] | None = None,
    states: Any = None,
    data: Any = None,
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
    plt = _pyplot()
    compiled = as_compiled(graph)
    theta, states = _theta_and_states(compiled, theta, states, owner)
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
            model = _exact_or_explain(owner, lambda ids=ids: exact.marginal(compiled, theta, ids)).ravel()
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


def _pairwise_group(graph: CompiledGraph, group: str | None) -> tuple[str, np.ndarray, np.ndarray]:
    """The name, (E, 2) scopes and θ indices of a group with one feature per pair of variables."""
    owner = "plot.couplings"
    names = list(graph.group_names)
    arity = np.diff(graph.factor_ptr)

    def pairwise(j: int) -> bool:
        rows = slice(graph.group_factors[j], graph.group_factors[j + 1])
        return bool(len(arity[rows]) and np.all(arity[rows] == 2) and np.all(graph.factor_form[rows] == 0))

    if group is None:
        candidates = [j for j in range(len(names)) if pairwise(j)]
        if len(candidates) != 1:
            found = [names[j] for j in candidates]
            raise ModelSpecError(
                f"{owner} needs group= when the model does not have exactly one pairwise group "
                f"(one feature per pair of variables); found {found} among the groups {names}."
            )
        j = candidates[0]
    elif group in names:
        j = names.index(group)
        if not pairwise(j):
            span = slice(graph.group_factors[j], graph.group_factors[j + 1])
            what = (
                "several features per pair (an indexed group)"
                if np.any(graph.factor_form[span] == 1)
                else f"scopes of {sorted(set(arity[span].tolist()))} variables"
            )
            raise ModelSpecError(
                f"{owner}: group {group!r} ({graph.group_kinds[j]}) has {what}; couplings need one "
                "feature per pair of variables, as fg.features.Product over pairs gives."
            )
    else:
        raise UnknownGroupError(f"{owner}: no feature group is named {group!r}; the groups are {names}.")
    rows = np.arange(graph.group_factors[j], graph.group_factors[j + 1])
    scopes = graph.factor_vars[graph.factor_ptr[rows][:, None] + np.arange(2)]
    return names[j], scopes, graph.factor_theta[rows]


def coupling_matrix(
    graph: FactorGraph | CompiledGraph, theta: FitResult | Any, group: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The learned θ of a pairwise group as a symmetric matrix.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,), FitResult or ExactFitResult
    group : str, optional
        A group with one feature per pair of variables (default: the only such group).

    Returns
    -------
    variables : ndarray of shape (m,)
        The variables the group touches, in increasing order.
    matrix : ndarray of shape (m, m)
        ``matrix[a, b]`` is the summed θ of the pair (variables[a], variables[b]); NaN for a
        pair without a feature and on the diagonal.

    Raises
    ------
    ModelSpecError
        As :func:`couplings`.
    ModelTooLargeError
        If the group touches more than 4096 variables.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    >>> fg.plot.coupling_matrix(g, np.array([0.5, -0.2]))[1]
    array([[ nan,  0.5,  nan],
           [ 0.5,  nan, -0.2],
           [ nan, -0.2,  nan]])
    """
    compiled = as_compiled(graph)
    theta, _ = _theta_and_states(compiled, theta, None, "plot.coupling_matrix")
    _, scopes, ids = _pairwise_group(compiled, group)
    variables, local = np.unique(scopes, return_inverse=True)
    if len(variables) > _MAX_MATRIX:
        raise ModelTooLargeError(
            f"plot.coupling_matrix: the group touches {len(variables)} variables, more than the "
            f"{_MAX_MATRIX} a dense matrix is drawn for. Use layout='graph', or a group over fewer variables."
        )
    local = local.reshape(scopes.shape)
    matrix = np.zeros((len(variables), len(variables)))
    seen = np.zeros_like(matrix, dtype=bool)
    for a, b in ((0, 1), (1, 0)):
        np.add.at(matrix, (local[:, a], local[:, b]), theta[ids])
        seen[local[:, a], local[:, b]] = True
    matrix[~seen] = np.nan
    return variables, matrix


def couplings(
    graph: FactorGraph | CompiledGraph,
    theta: FitResult | Any,
    group: str | None = None,
    layout: Literal["matrix", "graph"] = "matrix",
    pos: Mapping[int, Any] | None = None,
    cmap: str | Any = "RdBu_r",
    ax: Axes | None = None,
) -> Axes:
    """The learned θ of a pairwise group, as a matrix or on the interaction graph.

    ``layout="matrix"`` shows :func:`coupling_matrix` as an image over the variables the group
    touches (grey where a pair has no feature). ``layout="graph"`` draws each pair as an edge
    of a networkx layout, coloured by its θ and wider for larger ``|θ|``. Both use a diverging
    colour map centred at 0, with a colour bar.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,), FitResult or ExactFitResult
    group : str, optional
        A group with one feature per pair of variables, e.g. ``fg.features.Product`` over pairs
        (default: the only such group).
    layout : {"matrix", "graph"}, default "matrix"
    pos : dict of int to (x, y), optional
        Node positions for ``layout="graph"`` (default: ``networkx.spring_layout`` with seed 0).
    cmap : str or matplotlib Colormap, default "RdBu_r"
        A diverging colour map.
    ax : matplotlib Axes, optional
        Where to draw; new axes by default.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    ModelSpecError
        If the group is not pairwise (scopes of another size, or several features per pair),
        or no group is given and the model does not have exactly one pairwise group.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(3, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]), name="pairs")
    >>> ax = fg.plot.couplings(g, np.array([0.5, -0.2]), layout="graph")
    >>> ax.get_title()
    "Couplings of group 'pairs'"
    """
    owner = "plot.couplings"
    plt = _pyplot()
    if layout not in ("matrix", "graph"):
        raise ModelSpecError(message("layout", owner, "'matrix' or 'graph'", layout))
    compiled = as_compiled(graph)
    theta, _ = _theta_and_states(compiled, theta, None, owner)
    name, scopes, ids = _pairwise_group(compiled, group)
    import matplotlib
    from matplotlib.colors import Normalize

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5), layout="constrained")
    span = float(np.abs(theta[ids]).max(initial=0.0)) or 1.0
    norm = Normalize(-span, span)
    colours = matplotlib.colormaps.get_cmap(cmap).with_extremes(bad="0.85")
    if layout == "matrix":
        variables, matrix = coupling_matrix(compiled, theta, name)
        mappable = ax.imshow(matrix, cmap=colours, norm=norm, interpolation="nearest")
        if len(variables) <= 30:
            ax.set_xticks(np.arange(len(variables)), [str(v) for v in variables.tolist()])
            ax.set_yticks(np.arange(len(variables)), [str(v) for v in variables.tolist()])
        ax.set_xlabel("variable")
        ax.set_ylabel("variable")
    else:
        mappable = _draw_edges(ax, scopes, theta[ids], pos, colours, norm, span)
    ax.figure.colorbar(mappable, ax=ax, label="θ")
    ax.set_title(f"Couplings of group {name!r}")
    return ax


def _draw_edges(
    ax: Axes,
    scopes: np.ndarray,
    weights: np.ndarray,
    pos: Mapping[int, Any] | None,
    colours: Any,
    norm: Any,
    span: float,
) -> Any:
    import networkx as nx
    from matplotlib.collections import LineCollection

    nodes = np.unique(scopes).tolist()
    if pos is None:
        interaction = nx.Graph()
        interaction.add_nodes_from(nodes)
        interaction.add_edges_from(scopes.tolist())
        pos = nx.spring_layout(interaction, seed=0)
    missing = [v for v in nodes if v not in pos]
    if missing:
        raise ModelSpecError(
            message(
                "pos",
                "plot.couplings",
                "a position for every variable of the group",
                f"none for variables {missing[:5]}",
            )
        )
    xy = {v: np.asarray(pos[v], dtype=np.float64) for v in nodes}
    segments = np.array([[xy[a], xy[b]] for a, b in scopes.tolist()]).reshape(len(scopes), 2, 2)
    edges = LineCollection(
        list(segments), cmap=colours, norm=norm, linewidths=0.5 + 3.0 * np.abs(weights) / span, zorder=1
    )
    edges.set_array(weights)
    ax.add_collection(edges)
    points = np.array([xy[v] for v in nodes]).reshape(len(nodes), 2)
    ax.scatter(points[:, 0], points[:, 1], s=180, color="white", edgecolors="0.2", zorder=2)
    if len(nodes) <= 50:
        for v, (px, py) in zip(nodes, points.tolist()):
            ax.annotate(str(v), (px, py), ha="center", va="center", fontsize="small", zorder=3)
    ax.margins(0.08)
    ax.autoscale_view()
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_axis_off()
    return edges
