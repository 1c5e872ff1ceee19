"""The check of a fit's result: the model at the returned θ, on fresh chains run to equilibrium.

The training chains lag behind θ, so what they show is not the model that is returned. Before a
fit may call itself converged, new chains are started at the returned θ, burnt in until
independent chains agree (:func:`factorgraph.assessment.equilibrate`), and the whole objective's
residual is measured on them with the training monitor's own formula.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import CheckpointError
from factorgraph._monitor import group_standard_errors
from factorgraph.assessment import Assessment, equilibrate, rms_z_bound, summarise

if TYPE_CHECKING:
    from factorgraph.training import Trainer

__all__ = ["assess_result"]

_SEED_TAG = 0xF17C_4EC4  # keeps the fresh chains' stream apart from the training chains'


def assess_result(trainer: Trainer, theta: np.ndarray, *, mismatch_tol: float, time_budget: float) -> Assessment:
    """Assess ``theta`` for ``trainer``'s objective on fresh chains of the trainer's sampler.

    Returns the :class:`~factorgraph.Assessment` of the matched moments against their targets,
    with ``residual``, ``residual_max`` (the standardised residual of the whole objective,
    about 1 at its optimum) and ``failures`` (the criteria the result fails, each with what to
    change; empty when it passes) filled in.
    """
    name, n_chains, options = _sampler_settings(trainer)
    found = equilibrate(
        trainer.graph,
        theta,
        sampler=name,
        n_chains=max(n_chains, 2),
        seed=_seed(trainer),
        n_threads=trainer.n_threads,
        time_budget=time_budget,
        progress=False,
        **options,
    )
    stats = trainer.statistics(found.sampler)
    states = found.sampler.states
    grad, _ = trainer.gradient(stats, theta)
    # the larger of the two standard errors: the closed form (two-valued features' variance at
    # the fresh mean or the target, as in fg.assess), and the groups' spread
    figures = trainer.monitor.check(stats, states, grad, theta, min_se=group_standard_errors(stats))
    residual, residual_max = figures["residual"], figures["residual_max"]
    bound = trainer.monitor.max_residual(len(states))
    # with few features the RMS of exact-match z-scores often passes 1.5: widen to its χ² bound
    rms_tol = max(mismatch_tol, rms_z_bound(int(trainer.monitor.matched.sum()) or trainer.graph.n_features))
    failures = []
    if not found.equilibrated:
        failures.append(
            f"fresh chains at the returned θ did not equilibrate within the assessment's budget "
            f"({found.message}): raise assess_budget, or use a faster-mixing sampler"
        )
    if residual == residual and (residual > rms_tol or residual_max > bound):
        failures.append(
            f"fresh chains at the returned θ do not reach the objective's optimum within the noise: "
            f"standardised residual RMS {residual:.3g} (<= {rms_tol:.3g} wanted), max "
            f"{residual_max:.3g} (<= {bound:.3g}): run more steps, or use more chains or sweeps"
        )
    assessment = summarise(trainer.graph, found, trainer.monitor.target, sampler=name, compared=trainer.monitor.matched)
    return dataclasses.replace(assessment, residual=residual, residual_max=residual_max, failures=tuple(failures))


def _sampler_settings(trainer: Trainer) -> tuple[str, int, dict[str, Any]]:
    """The trainer's sampler as a name, chain count and options (the fresh chains choose
    whether to average sweeps themselves)."""
    try:
        config = trainer.sampler_config()
    except CheckpointError:  # a ready sampler that cannot describe itself: Gibbs chains check it
        config = {"name": "gibbs", "n_chains": 256, "options": {}}
    options = {k: v for k, v in config.get("options", {}).items() if k not in ("average_sweeps", "n_threads")}
    return config["name"], int(config.get("n_chains", 256)), options


def _seed(trainer: Trainer) -> np.random.SeedSequence:
    """A seed fixed by the training run's own key and step: the same fit, the same check."""
    key = np.asarray(trainer.sampler.get_state().get("key", [0]), dtype=np.uint64).ravel()
    return np.random.SeedSequence([int(k) for k in key] + [trainer.step_count, _SEED_TAG])
