"""A trainer's parts described for a checkpoint, and a trainer rebuilt from one.

:meth:`Trainer.state_dict` gathers the state; the functions here describe the parts a state
must name to be rebuilt in another process (the objectives by registered name and parameters,
the sampler by name and options, the optimizer by its config), check the sampler's checkpoint
contract, and build a trainer again from a verified checkpoint (:func:`rebuild`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

import objectives
import samplers
from factorgraph._errors import CheckpointCorruptedError, CheckpointError, FactorGraphError, ModelSpecError
from factorgraph._landing import Landing
from factorgraph.contracts import STATE_KEYS
from factorgraph.optim import Optimizer

if TYPE_CHECKING:
    from factorgraph.checkpoint import Checkpoint
    from factorgraph.training import Trainer

__all__ = [
    "describe_objectives",
    "describe_optimizer",
    "sampler_state",
    "restore_sampler",
    "history_arrays",
    "history_lists",
    "rebuild",
]


def describe_objectives(terms: list[Any]) -> list[dict[str, Any]]:
    """Each term as ``{"name", "params"}``, its registered name checked against its class."""
    described = []
    for index, term in enumerate(terms):
        try:
            name, params = term.config()
        except (AttributeError, NotImplementedError) as exc:
            raise CheckpointError(
                f"Objective {index} ({type(term).__name__}) cannot be checkpointed: it has no config(). Give it "
                "config() -> (registered name, parameters) and register it with objectives.register (see "
                "objectives.Objective.config)."
            ) from exc
        try:
            cls = objectives.get(name)
        except FactorGraphError as exc:
            raise CheckpointError(
                f"Objective {index} ({type(term).__name__}) describes itself as {name!r}, which "
                f"is not a registered objective: {exc}"
            ) from exc
        if not isinstance(term, cls):
            raise CheckpointError(
                f"Objective {index} is a {type(term).__name__}, but {name!r} is registered to {cls.__name__}."
            )
        described.append({"name": name, "params": dict(params)})
    return described


def describe_optimizer(optimizer: Any) -> dict[str, Any]:
    try:
        return {"config": optimizer.config(), "state": optimizer.get_state()}
    except (AttributeError, ModelSpecError) as exc:
        raise CheckpointError(f"The optimizer cannot be checkpointed: {exc}") from exc


def sampler_state(sampler: Any) -> dict[str, Any]:
    """The sampler's state, refused unless it holds the generator's position (the
    :class:`~factorgraph.contracts.Checkpointable` contract: ``"key"`` and ``"sweep"``)."""
    state = sampler.get_state()
    if not isinstance(state, dict) or any(key not in state for key in STATE_KEYS):
        raise CheckpointError(
            f"The sampler {sampler!r} does not report its random generator's position (get_state() "
            "needs 'key' and 'sweep'), so a resumed run could not continue its random stream exactly. "
            "Give the sampler a counter-based generator whose state is (key, sweep)."
        )
    return state


def restore_sampler(sampler: Any, name: str, state: dict[str, Any], where: str) -> None:
    """Put a saved state back into ``sampler`` and check that it took the generator's position."""
    state = copy.deepcopy(state)
    try:
        sampler.set_state(state)
    except (KeyError, TypeError, ValueError, FactorGraphError) as exc:
        raise CheckpointCorruptedError(f"Checkpoint {where}: the chains' state does not restore ({exc}).") from exc
    restored = sampler.get_state()
    if int(restored.get("sweep", -1)) != int(state["sweep"]) or not np.array_equal(
        np.asarray(restored.get("key")), np.asarray(state["key"])
    ):
        raise CheckpointError(
            f"Checkpoint {where}: the sampler {name!r} did not take the saved generator key and sweep "
            "counter, so the run could not continue its random stream; refusing to reseed silently."
        )


def history_arrays(history: dict[str, list[Any]], n_terms: int) -> dict[str, np.ndarray]:
    """The per-step history as float arrays (``values`` as steps x terms)."""
    return {
        key: (
            np.array(values, dtype=np.float64).reshape(len(values), n_terms)
            if key == "values"
            else np.array(values, dtype=np.float64)
        )
        for key, values in history.items()
    }


def history_lists(arrays: dict[str, Any], n_terms: int) -> dict[str, list[Any]]:
    """The inverse of :func:`history_arrays`."""
    return {
        key: (np.asarray(values).reshape(-1, n_terms).tolist() if key == "values" else np.asarray(values).tolist())
        for key, values in arrays.items()
    }


def rebuild(cls: type[Trainer], found: Checkpoint, n_threads: int | None, cluster: Any) -> Trainer:
    """A trainer of class ``cls`` built from a verified checkpoint's settings, its state loaded."""
    meta, where = found.meta, repr(found.path)
    try:
        terms = []
        for entry in meta["objectives"]:
            term_cls = objectives.get(entry["name"])
            build = getattr(term_cls, "from_config", None)
            terms.append(build(entry["params"]) if build is not None else term_cls(**entry["params"]))
        optimizer = Optimizer.from_config(meta["optimizer"]["config"])
        optimizer.set_state(meta["optimizer"]["state"])
        settings, sampler = meta["trainer"], meta["sampler"]
        if sampler["name"] not in samplers.available():
            raise CheckpointError(
                f"Checkpoint {where} needs the sampler {sampler['name']!r}, which is not "
                f"installed (available: {samplers.available()})."
            )
        trainer = cls(
            found.graph,
            terms,
            sampler=sampler["name"],
            n_chains=sampler["n_chains"],
            sweeps_per_step=settings["sweeps_per_step"],
            optimizer=optimizer,
            seed=0,
            theta0=meta["theta"],
            average_from=settings["average_from"],
            landing=None if settings.get("landing") is None else Landing(**settings["landing"]),
            max_sweeps_per_step=settings.get("max_sweeps_per_step", 64),
            relax_within=settings.get("relax_within", 50),
            n_threads=settings["n_threads"] if n_threads is None else n_threads,
            cluster=cluster,
            **sampler["options"],
        )
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, FactorGraphError) as exc:
        raise CheckpointCorruptedError(
            f"Checkpoint {where} cannot rebuild the trainer ({type(exc).__name__}: {exc})."
        ) from exc
    trainer.load_state_dict(meta, where)
    return trainer
