"""The plugin contracts, declared: what samplers and objectives must have, and what they may add.

Each contract is a :class:`typing.Protocol`. The engines (the trainer, :func:`factorgraph.exact.fit`,
the monitor, checkpoints) ask a plugin which capabilities it has with ``isinstance(x, Contract)``
and never look at its class, so a third-party sampler or objective gets every service a built-in
one gets by having the members listed here. :mod:`factorgraph.testing` checks a plugin against
them in one call.

Samplers
--------
:class:`Sampler` is required. The capabilities are optional:

* :class:`Checkpointable`: ``get_state()`` holds the generator's position under
  :data:`STATE_KEYS` (``"key"`` and ``"sweep"``), so that a resumed run continues the same
  random stream; without it, :meth:`Trainer.save_checkpoint <factorgraph.Trainer.save_checkpoint>`
  refuses with a message naming the missing keys.
* :class:`MarginalStats`: counts of joint states and chain-weighted feature sums, for marginal
  priors (the base class :class:`samplers.Sampler` gives both, computed from ``states``).
* :class:`Shardable`: per-block sums, so :class:`samplers.ShardedChains` can split the chains
  over machines with the same bits.
* :class:`ExactKernel`: the exact one-sweep transition matrix of a small model, which the test
  suite checks against exact enumeration.

Objectives
----------
:class:`Objective` is required (``value_and_grad``). The engines also use:

* :class:`MatchingTerm`: the term is m_k − E_θ[f_k] on the features it names; both engines
  count each matched feature once however many terms cover it.
* :class:`ProximalTerm`: a separable non-smooth penalty Σ_k λ_k·abs(θ_k), applied by its proximal
  map after each optimizer step and solved exactly by an L-BFGS-B split.
* :class:`RidgeTerm`: a quadratic penalty ½ Σ_k r_k θ_k², whose Hessian the exact engine uses.
* :class:`ExactTerm`: the same term computed by enumeration, which :func:`factorgraph.exact.fit` needs.
* :class:`MarginalTerm`: a term about the joint marginal of one scope (its ``scope`` and
  ``target`` table); when it is also a matching term it is a hard constraint, and overlapping
  tables must agree.
* :class:`BoundingTerm`: it keeps some θ_k finite (a positive penalty), so a target at the
  edge of its feature's range is allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike
    from factorgraph.compiled import CompiledGraph
    from samplers import ChainStats, SweepInfo

__all__ = [
    "STATE_KEYS",
    "SAMPLER_MEMBERS",
    "Sampler",
    "Checkpointable",
    "MarginalStats",
    "Shardable",
    "ExactKernel",
    "Bindable",
    "Objective",
    "MatchingTerm",
    "ProximalTerm",
    "RidgeTerm",
    "ExactTerm",
    "MarginalTerm",
    "BoundingTerm",
]

#: The keys a checkpointable sampler's state must hold: its generator key and sweep counter.
STATE_KEYS = ("key", "sweep")

#: The members every sampler has (what the registry checks when a plugin is registered).
SAMPLER_MEMBERS = ("run", "stats", "states", "get_state", "set_state")


@runtime_checkable
class Sampler(Protocol):
    """Persistent chains on a compiled graph (subclass :class:`samplers.Sampler` to get the rest).

    Attributes
    ----------
    graph : CompiledGraph
        The model the chains sample.

    Notes
    -----
    An ``n_chains`` attribute is optional; with it the trainer bounds the monitor's residual
    from the first step, without it from the first check.
    """

    graph: CompiledGraph

    def run(self, theta: np.ndarray, n_sweeps: int) -> SweepInfo:
        """Advance every chain by ``n_sweeps`` sweeps at ``theta``."""
        ...

    def stats(self) -> ChainStats:
        """The chains' statistics (at least the feature means)."""
        ...

    @property
    def states(self) -> np.ndarray:
        """The chains' states, shape (n_chains, n_variables), a copy."""
        ...

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly."""
        ...

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`; continuing then gives the uninterrupted run's chains."""
        ...


@runtime_checkable
class Checkpointable(Sampler, Protocol):
    """A sampler whose state a checkpoint can hold and give back exactly.

    ``get_state()`` returns a dict of JSON scalars, lists and numeric arrays that holds
    ``"key"`` (the generator key: two or more unsigned integers) and ``"sweep"`` (the sweeps done,
    the generator's counter); every random number of the next sweep is a function of these, so
    ``set_state`` followed by ``run`` continues the interrupted stream bit for bit. The trainer
    rebuilds a checkpointed sampler by its registered ``name`` with the trainer's options.
    """

    name: str


@runtime_checkable
class MarginalStats(Protocol):
    """Marginal counts and chain-weighted feature sums (what marginal priors read)."""

    def marginal_counts(self, scope: ScopeLike) -> np.ndarray:
        """How many chains are in each joint state of ``scope``; one axis per scope variable."""
        ...

    def weighted_sums(self, scope: ScopeLike, table: ArrayLike) -> np.ndarray:
        """Σ_c table[x_S^c] f(x^c) over the chains, shape (n_features,)."""
        ...


@runtime_checkable
class Shardable(Protocol):
    """Per-block sums, so that shards of chains add up to the single-process figures exactly.

    The constructor also takes ``first_chain=`` (the chains' place in the global range) and
    ``block_size=`` (the chains per block, fixed across shards).
    """

    def block_stats(self) -> Any:
        """The chains' statistics as per-block sums."""
        ...

    def weighted_block_sums(self, scope: ScopeLike, table: ArrayLike) -> np.ndarray:
        """:meth:`MarginalStats.weighted_sums` per block."""
        ...


@runtime_checkable
class ExactKernel(Protocol):
    """The exact one-sweep transition matrix of a small model (see :func:`samplers.single_site_matrix`)."""

    def transition_matrix(self, theta: np.ndarray) -> Any:
        """The (S, S) matrix over joint states in the order of :func:`factorgraph.exact.enumerate_states`."""
        ...


@runtime_checkable
class Bindable(Protocol):
    """A sampler description not yet built on a graph (:class:`samplers.ShardedChains` without one):
    the trainer binds it to its graph, chain count and seed."""

    bound: bool

    def bind(self, graph: CompiledGraph, n_chains: int, **options: Any) -> Sampler:
        """The sampler built on ``graph``."""
        ...


@runtime_checkable
class Objective(Protocol):
    """A term of the objective L(θ): its value (None when it cannot be estimated) and ascent direction.

    The optional members, with the defaults :class:`objectives.Objective` gives a subclass:
    ``needs() -> Needs`` (what it reads from the chains; without it, the feature means),
    ``check(graph)`` (validation before the first step), and ``config()`` / ``from_config`` (to
    be checkpointed).
    """

    def value_and_grad(self, stats: ChainStats, theta: np.ndarray) -> tuple[float | None, np.ndarray]:
        """The value and gradient at ``theta``, from the chains' statistics."""
        ...


@runtime_checkable
class MatchingTerm(Objective, Protocol):
    """A term whose gradient is m_k − E_θ[f_k] on the features it names (the log-likelihood's)."""

    def matched_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The θ indices it matches and their target moments."""
        ...


@runtime_checkable
class ProximalTerm(Objective, Protocol):
    """The separable penalty Σ_k λ_k·abs(θ_k) (``strength`` is λ: a number or one per feature)."""

    strength: float | np.ndarray

    def proximal(self, theta: np.ndarray, step: float | np.ndarray) -> np.ndarray:
        """The proximal map of ``step`` times the penalty at ``theta``."""
        ...


@runtime_checkable
class RidgeTerm(Objective, Protocol):
    """The quadratic penalty ½ Σ_k r_k θ_k²."""

    def ridge(self, n_features: int) -> np.ndarray:
        """r, one per feature."""
        ...


@runtime_checkable
class ExactTerm(Protocol):
    """A term the exact engine can evaluate (what :func:`factorgraph.exact.fit` solves)."""

    def exact_value_and_grad(self, graph: CompiledGraph, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The term's value and gradient at ``theta``, computed by enumeration."""
        ...


@runtime_checkable
class MarginalTerm(Protocol):
    """A term about the joint marginal of one scope: ``scope`` (variable ids) and ``target``
    (a table with one axis per scope variable)."""

    scope: ScopeLike
    target: ArrayLike


@runtime_checkable
class BoundingTerm(Protocol):
    """A term that keeps some θ_k finite, so their targets may sit at the edge of their range."""

    def keeps_finite(self, n_features: int) -> np.ndarray:
        """Which features the term holds finite (bool, one per feature)."""
        ...
