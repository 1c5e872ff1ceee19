"""A trainer's state: what it is, how it is saved and put back, and a trainer rebuilt from it.

:class:`TrainerState` is the part of :class:`~factorgraph.Trainer` that owns its persistent
state (:meth:`~TrainerState.state_dict`, :meth:`~TrainerState.load_state_dict`), writes it
to checkpoints and resumes from them; :mod:`factorgraph.checkpoint` only stores it. The
functions describe the parts a state must name to be rebuilt in another process (the
objectives by registered name and parameters, the sampler by name and options, the optimizer
by its config), check the sampler's checkpoint contract, and build a trainer again from a
verified checkpoint (:func:`rebuild`).
"""

from __future__ import annotations

import copy
import logging
import os
from typing import TYPE_CHECKING, Any, Self, TypeVar

import numpy as np

import objectives
import samplers
from factorgraph import checkpoint
from factorgraph._convergence import Convergence
from factorgraph._errors import (
    CheckpointCorruptedError,
    CheckpointError,
    FactorGraphError,
    ModelSpecError,
    ShardLostError,
)
from factorgraph._landing import Landing
from factorgraph._relaxation import Relaxation
from factorgraph.compiled import CompiledGraph, as_compiled
from factorgraph.contracts import STATE_KEYS
from factorgraph.optim import Optimizer, PolyakAverage

logger = logging.getLogger("factorgraph")

if TYPE_CHECKING:
    from factorgraph.checkpoint import Checkpoint
    from factorgraph.compiled import GraphLike
    from factorgraph.contracts import Objective, Sampler

_T = TypeVar("_T", bound="TrainerState")

__all__ = [
    "describe_objectives",
    "describe_optimizer",
    "sampler_state",
    "restore_sampler",
    "history_arrays",
    "history_lists",
    "rebuild",
]


class TrainerState:
    """The persistent state of a :class:`~factorgraph.Trainer`, and its checkpoints.

    A base class of ``Trainer``: everything here reads and writes the trainer's attributes,
    declared below for type checkers.
    """

    graph: CompiledGraph
    objectives: list[Objective]
    sampler: Sampler
    optimizer: Optimizer
    theta: np.ndarray
    step_count: int
    history: dict[str, list[Any]]
    convergence: Convergence
    relaxation: Relaxation
    landing: Landing | None
    average: PolyakAverage | None
    average_from: int | None
    sweeps_per_step: int | str
    n_threads: int | None
    run_id: str
    checkpoint_dir: str | None
    checkpoint_every: int | None
    recovery_point: dict[str, Any] | None
    _sampler_config: dict[str, Any] | None
    _call: dict[str, Any]
    _elapsed: float
    _last_checkpoint: int

    def state_dict(self) -> dict[str, Any]:
        """The trainer's whole state, as copies: θ, the chains, the optimizer, the averaging and
        schedule, the convergence test, the latest fit call and the history, with the settings
        and the descriptions of the objectives, sampler and optimizer that rebuild it elsewhere.

        Nested dicts and lists of JSON scalars and numeric arrays (what a checkpoint stores);
        :meth:`load_state_dict` puts it back.

        Raises
        ------
        CheckpointError
            When a part cannot be described: a custom objective without ``config()``, a ready
            sampler without ``config()``, a sampler whose state lacks its generator's position,
            an optimizer with a plain-callable learning rate.
        """
        state = {
            "step": self.step_count,
            "run_id": self.run_id,
            "theta": self.theta,
            "trainer": {
                "sweeps_per_step": self.sweeps_per_step,
                "max_sweeps_per_step": self.relaxation.max_sweeps,
                "relax_within": self.relaxation.horizon,
                "landing": None if self.landing is None else self.landing.config(),
                "average_from": self.average_from,
                "n_threads": self.n_threads,
                "checkpoint_every": self.checkpoint_every,
            },
            "sampler": {**self.sampler_config(), "state": sampler_state(self.sampler)},
            "optimizer": describe_optimizer(self.optimizer),
            "schedule": self.schedule_state(),
            "objectives": describe_objectives(self.objectives),
            "monitor": self.convergence.get_state(),
            "fit": {"call": self._call, "elapsed": self._elapsed},
            "history": history_arrays(self.history, len(self.objectives)),
        }
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict[str, Any], where: str = "in memory") -> None:
        """Put a :meth:`state_dict` back: θ, the chains, the optimizer, the averaging, the step
        count, the convergence test, the latest fit call and the history.

        Raises
        ------
        CheckpointCorruptedError, CheckpointError
            When the chains' state does not restore, or the sampler ignores its generator's position.
        """
        self.theta = np.array(state["theta"], dtype=np.float64)
        self.optimizer.set_state(copy.deepcopy(state["optimizer"]["state"]))
        restore_sampler(self.sampler, state["sampler"]["name"], state["sampler"]["state"], where)
        if "schedule" in state:
            self.set_schedule_state(state["schedule"])
        elif self.average is not None:  # a checkpoint from before landings and relaxation checks
            self.average.set_state(copy.deepcopy(state["average"]))
        self.step_count = int(state["step"])
        self.history = history_lists(state["history"], len(self.objectives))
        self.convergence.set_state(state["monitor"], len(self.theta))
        self._call = copy.deepcopy(state["fit"]["call"])
        self._elapsed = float(state["fit"]["elapsed"])
        self.run_id = state["run_id"]

    def roll_back(self, lost: ShardLostError) -> None:
        """After a lost shard: put the trainer back to its last checkpoint (:attr:`recovery_point`,
        kept in memory), or re-raise ``lost`` when there is none to go back to."""
        point = self.recovery_point
        if point is None or getattr(self.sampler, "recovery", None) != "rollback":
            raise lost
        for attempt in range(3):  # a worker lost again while restoring: try once more
            try:
                self.load_state_dict(point, "in memory")
                break
            except ShardLostError:
                if attempt == 2:
                    raise
        logger.warning(
            "fit: %s; rolled back to step %d and continuing (the result is unchanged)", lost, self.step_count
        )

    def sampler_config(self) -> dict[str, Any]:
        """How to build the sampler again: ``{"name", "n_chains", "options"}``.

        Raises
        ------
        CheckpointError
            For a ready sampler that cannot describe itself (no ``config()``).
        """
        if self._sampler_config is not None:
            return self._sampler_config
        describe = getattr(self.sampler, "config", None)
        if describe is None:
            raise checkpoint.CheckpointError(
                f"The trainer was given a ready sampler ({self.sampler!r}) and cannot say how to rebuild it. "
                "Give the sampler by name (Trainer(..., sampler='gibbs', n_chains=..., **options)), or give it a "
                "config() -> {'name', 'n_chains', 'options'}."
            )
        return describe()

    def save_checkpoint(self, directory: str | os.PathLike | None = None) -> str:
        """Write a checkpoint of the whole trainer now; returns its folder.

        Parameters
        ----------
        directory : str or path-like, optional
            Where; default :attr:`checkpoint_dir`. See :mod:`factorgraph.checkpoint` for the
            layout and the atomic protocol.

        Raises
        ------
        CheckpointError
            When a part of the trainer cannot be described (a custom objective without
            ``config()``, a plain-callable learning rate, a ready sampler without ``config()``).
        """
        directory = self.checkpoint_dir if directory is None else os.fspath(directory)
        if directory is None:
            raise ModelSpecError("save_checkpoint needs a folder: pass one, or set Trainer(checkpoint_dir=...).")
        checkpoint.check_run(directory, self.run_id)
        state = self.state_dict()
        path = checkpoint.write(
            directory, self.step_count, checkpoint.pack(self.graph, state), self.graph.fingerprint(), self.run_id
        )
        self.recovery_point = state  # the last checkpoint, in memory, for a sharded run's rollback
        self._last_checkpoint = self.step_count
        return path

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike,
        *,
        graph: GraphLike | None = None,
        n_threads: int | None = None,
        checkpoint_every: int | None = None,
        cluster: Any = None,
    ) -> Self:
        """Rebuild a trainer from a checkpoint, in this or a new process.

        Parameters
        ----------
        path : str or path-like
            A checkpoint folder (the newest intact checkpoint in it is used, falling back to the
            previous one with a :class:`~factorgraph.CheckpointFallbackWarning` when the newest
            is damaged) or one checkpoint inside it (``.../ckpt-000123``).
        graph : FactorGraph or CompiledGraph, optional
            When given, the checkpoint must be of this model (same fingerprint), else
            :class:`~factorgraph.CheckpointMismatchError`.
        n_threads : int, optional
            Sampler threads for the continuation (the results do not depend on it).
        checkpoint_every : int, optional
            A new checkpoint interval; by default the saved one.
        cluster : distributed.Client, optional
            Continue with the chains sharded over this Dask cluster (one shard per worker). A
            checkpoint does not say where its chains ran: one written on a cluster resumes in
            one process, and the reverse, with the same bits.

        Returns
        -------
        Trainer
            Its θ, chains, optimizer, averaging, convergence state and :attr:`history` are those
            at the checkpoint, and it keeps writing checkpoints to the same folder.
            ``trainer.fit(**trainer.resume_args)`` finishes the interrupted ``fit`` call:
            the result equals the uninterrupted run's bit for bit.

        Raises
        ------
        CheckpointCorruptedError, CheckpointMismatchError
            When no checkpoint there is intact, or of this model and format version.
        """
        path = os.fspath(path)
        fingerprint = None if graph is None else as_compiled(graph).fingerprint()
        found = checkpoint.find(path, fingerprint)
        trainer = rebuild(cls, found, n_threads, cluster)
        trainer.checkpoint_dir = os.path.dirname(found.path)
        trainer.checkpoint_every = checkpoint_every or found.meta["trainer"]["checkpoint_every"] or 100
        trainer._last_checkpoint = trainer.step_count
        return trainer

    @property
    def resume_args(self) -> dict[str, Any]:
        """The arguments of the latest :meth:`fit` call with ``max_steps`` reduced to the steps it
        had left; after :meth:`resume`, ``trainer.fit(**trainer.resume_args)`` completes the
        interrupted call. Empty before the first call."""
        if not self._call:
            return {}
        args = dict(self._call["args"])
        args["max_steps"] = max(0, self._call["start"] + args["max_steps"] - self.step_count)
        return args

    def schedule_state(self) -> dict[str, Any]:
        """Copies of the step-by-step state beside θ, the optimizer and the chains: the
        averaging, the landing and the chains' relaxation (for rollbacks and checkpoints)."""
        average = self.average
        # each part's get_state gives copies: a second, deep copy would double the cost of
        # every rollback point (the average's batch sums are 16 vectors of θ's size)
        return {
            "average": None
            if average is None
            else {"start": average.start, "weighting": average.weighting, "state": average.get_state()},
            "landing": None if self.landing is None else self.landing.get_state(),
            "relaxation": self.relaxation.get_state(),
        }

    def set_schedule_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`schedule_state` (each part's set_state copies what it keeps)."""
        average = state["average"]
        self.average = None
        if average is not None:
            self.average = PolyakAverage(start=average["start"], weighting=average["weighting"])
            self.average.set_state(average["state"])
        if self.landing is not None and state["landing"] is not None:
            self.landing.set_state(state["landing"])
        self.relaxation.set_state(state["relaxation"])


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


def describe_optimizer(optimizer: Optimizer) -> dict[str, Any]:
    try:
        return {"config": optimizer.config(), "state": optimizer.get_state()}
    except (AttributeError, ModelSpecError) as exc:
        raise CheckpointError(f"The optimizer cannot be checkpointed: {exc}") from exc


def sampler_state(sampler: Sampler) -> dict[str, Any]:
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


def restore_sampler(sampler: Sampler, name: str, state: dict[str, Any], where: str) -> None:
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


def rebuild(cls: type[_T], found: Checkpoint, n_threads: int | None, cluster: Any) -> _T:
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
        if not samplers.REGISTRY.knows(sampler["name"]):
            raise CheckpointError(
                f"Checkpoint {where} needs the sampler {sampler['name']!r}, which is not "
                f"installed (available: {samplers.available()})."
            )
        trainer = cls(  # type: ignore[call-arg]  # a Trainer subclass: its constructor
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
