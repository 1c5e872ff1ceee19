"""What a trainer checks and builds before its first step, and its refusals during a fit.

The objectives, sorted by what they ask of the loop; the sampler from a name, a ready sampler
or a sharded description; the targets no finite θ
reaches; θ that ran away. Each refusal names the features concerned, by θ index and group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import samplers
from factorgraph._errors import ModelSpecError, NumericalError, PluginError, UnreachableTargetError
from factorgraph._validation import message
from factorgraph.compiled import CompiledGraph
from factorgraph.contracts import Bindable, BoundingTerm, MarginalStats, Objective, ProximalTerm, Sampler
from objectives import Needs

if TYPE_CHECKING:
    from factorgraph._validation import SeedLike

__all__ = ["check_objectives", "build_sampler", "check_reachable", "check_theta_finite", "describe_features"]


def check_objectives(
    graph: CompiledGraph, objectives: Sequence[Objective]
) -> tuple[list[Objective], list[ProximalTerm], Needs]:
    """The objectives (each checked against ``graph``), those with a proximal map, and the
    statistics they need together; refuses an empty list and an object that is no objective."""
    owner = "Trainer"
    terms = list(objectives)
    if not terms:
        raise ModelSpecError(
            message(
                "objectives", owner, "at least one objective", objectives, "Pass [objectives.MomentMatching(target)]."
            )
        )
    for term in terms:
        if not hasattr(term, "value_and_grad"):
            raise ModelSpecError(message("objectives", owner, "objects with value_and_grad", term))
        if hasattr(term, "check"):
            term.check(graph)
    needs = Needs()
    for term in terms:
        needs = needs | (term.needs() if hasattr(term, "needs") else Needs(mean=True))
    return terms, [t for t in terms if isinstance(t, ProximalTerm)], needs


def build_sampler(
    graph: CompiledGraph,
    sampler: Any,
    n_chains: int | None,
    seed: SeedLike,
    n_threads: int | None,
    cluster: Any,
    options: dict[str, Any],
    needs: Needs,
) -> tuple[Any, dict[str, Any] | None]:
    """The trainer's sampler and, when it was built here, how to build it again (its config)."""
    owner = "Trainer"
    config: dict[str, Any] | None = None
    if cluster is not None and not isinstance(sampler, str):
        raise ModelSpecError(
            "Trainer got cluster= with a ready sampler; give the sampler by name "
            "(sampler='gibbs', cluster=client), or pass samplers.ShardedChains(...) alone."
        )
    if isinstance(sampler, str) and cluster is not None:  # the named sampler, sharded over the cluster
        sampler = samplers.ShardedChains(inner=sampler, client=cluster)
    if isinstance(sampler, Bindable) and not sampler.bound:
        sampler = sampler.bind(graph, 256 if n_chains is None else n_chains, seed=seed, n_threads=n_threads, **options)
        config = sampler.config()  # checkpoints as of one process: resumable anywhere
    elif isinstance(sampler, str):
        given = dict(options)
        if n_threads is not None:
            given["n_threads"] = n_threads
        n_chains = 256 if n_chains is None else n_chains
        config = {"name": sampler, "n_chains": n_chains, "options": dict(options)}
        sampler = samplers.create(sampler, graph, n_chains, seed=seed, **given)
    else:
        if not isinstance(sampler, Sampler):
            raise ModelSpecError(message("sampler", owner, "a registered name or a Sampler", sampler))
        given_names = [
            k for k, v in (("n_chains", n_chains), ("seed", seed), ("n_threads", n_threads)) if v is not None
        ]
        if given_names or options:
            raise ModelSpecError(
                f"Trainer got a ready sampler and also {given_names + sorted(options)}; those options "
                "only apply when the sampler is given by name. Set them on the sampler instead."
            )
        if getattr(sampler, "graph", None) is not graph:
            raise ModelSpecError("The sampler was built on another compiled graph; build it on trainer.graph.")
    if (needs.marginals or needs.weighted) and not isinstance(sampler, MarginalStats):
        lacking = [m for m in ("marginal_counts", "weighted_sums") if not callable(getattr(sampler, m, None))]
        raise PluginError(
            f"The objectives need the sampler's method(s) {lacking}, which {sampler!r} lacks. Subclass "
            "samplers.Sampler (its defaults read `states`) or implement them; see docs/samplers.rst."
        )
    return sampler, config


def describe_features(
    graph: CompiledGraph,
    target: np.ndarray,
    ids: np.ndarray,
    extra: Callable[[int], str] = lambda k: "",
    limit: int = 5,
) -> str:
    """Name features by θ index and group, with their targets (and ``extra(k)``), for errors."""
    groups = np.searchsorted(graph.group_theta, ids, side="right") - 1
    parts = [
        f"feature {k} (group '{graph.group_names[grp]}', target {target[k]:.6g}{extra(k)})"
        for k, grp in zip(ids[:limit].tolist(), groups[:limit].tolist())
    ]
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(parts) + more


def check_reachable(
    graph: CompiledGraph,
    terms: Sequence[Any],
    matched: np.ndarray,
    target: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> None:
    """Refuse targets no finite θ reaches: outside a feature's range, or on its edge.

    A target at the edge of its feature's range (a binary mean of exactly 0 or 1) is only
    reached as θ_k → ±∞, unless a term's ``keeps_finite`` (a positive L1 or L2 penalty)
    holds θ_k finite.
    """
    slack = 1e-12 * np.maximum(1.0, np.abs(target))
    outside = matched & ((target < low - slack) | (target > high + slack))
    if outside.any():
        ids = np.flatnonzero(outside)
        raise UnreachableTargetError(
            f"Targets lie outside the range their feature can take, so no model reaches them: "
            f"{describe_features(graph, target, ids)}. Check the targets' θ order.",
            ids,
        )
    held = np.zeros(graph.n_features, dtype=bool)
    for term in terms:
        if isinstance(term, BoundingTerm):
            held |= term.keeps_finite(graph.n_features)
    edge = matched & ~held & (high > low) & ((np.abs(target - low) <= slack) | (np.abs(target - high) <= slack))
    if edge.any():
        ids = np.flatnonzero(edge)
        raise UnreachableTargetError(
            f"Targets sit at the edge of their feature's range, reached only as θ → ±∞: "
            f"{describe_features(graph, target, ids)}. Move them inside (e.g. a pseudocount on the data), add "
            "objectives.L2 or L1, or make those features fixed.",
            ids,
        )


def check_theta_finite(
    graph: CompiledGraph,
    theta: np.ndarray,
    target: np.ndarray,
    spread: np.ndarray,
    mean: np.ndarray | None,
    step: int,
    max_theta: float,
) -> None:
    """Stop on non-finite θ, or on θ so large that the targets must be out of reach."""
    with np.errstate(over="ignore", invalid="ignore"):  # θ that is not finite is reported below
        scaled = np.abs(theta)  # one pass in the common case: the largest |θ_k| · range is finite and small
        scaled *= spread
    if scaled.max(initial=0.0) <= max_theta:  # False for NaN
        return
    bad = ~np.isfinite(theta)
    if bad.any():
        ids = np.flatnonzero(bad)
        raise NumericalError(
            f"θ became non-finite at features {ids[:5].tolist()} after step {step}; "
            "lower the learning rate or check the objectives' gradients."
        )
    runaway = graph.trainable & (np.abs(theta) * spread > max_theta)
    if runaway.any():
        ids = np.flatnonzero(runaway)
        mean = np.full(len(theta), np.nan) if mean is None else mean
        detail = describe_features(graph, target, ids, lambda k: f", chains {mean[k]:.6g}, θ {theta[k]:.3g}")
        raise UnreachableTargetError(
            f"θ grew without bound (|θ_k| · range > {max_theta:g}) after {step} steps at "
            f"{detail}. The targets are likely out of the model's reach: jointly "
            "inconsistent (e.g. a pair moment impossible given the means) or at the edge of what "
            "the features can take. Check them, or add objectives.L2.",
            ids,
        )
