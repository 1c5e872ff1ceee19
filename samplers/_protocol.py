"""The sampler contract: what the training loop needs from a sampler, and nothing more."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse

from factorgraph import _kernels, enumeration
from factorgraph._errors import ModelSpecError, ModelTooLargeError, PluginError
from factorgraph._joint import place_values
from factorgraph._validation import check_int, check_scope, check_scope_table, check_theta, message

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike
    from factorgraph.compiled import CompiledGraph

__all__ = [
    "Sampler",
    "ChainStats",
    "SweepInfo",
    "seed_key",
    "single_site_matrix",
    "MAX_KERNEL_STATES",
    "state_marginal_counts",
    "state_weighted_sums",
]

#: The most joint states :func:`single_site_matrix` (and so ``transition_matrix``) will enumerate.
MAX_KERNEL_STATES = 4096


def state_marginal_counts(
    graph: CompiledGraph, states: np.ndarray, scope: ScopeLike, owner: str = "marginal_counts"
) -> np.ndarray:
    """How many of ``states`` (shape (n_chains, n_variables)) are in each joint state of ``scope``.

    Returns an int64 array with one axis per scope variable (shape ``n_states[scope]``).
    """
    ids, places = check_scope(graph, scope, owner)
    joint = states[:, ids].astype(np.int64) @ places
    shape = tuple(graph.n_states[ids].tolist())
    return np.bincount(joint, minlength=int(np.prod(shape))).reshape(shape)


def state_weighted_sums(
    graph: CompiledGraph, states: np.ndarray, scope: ScopeLike, table: ArrayLike, owner: str = "weighted_sums"
) -> np.ndarray:
    """Σ_c table[x_S^c] f(x^c) over ``states`` (shape (n_chains, n_variables)), shape (n_features,)."""
    ids, places = check_scope(graph, scope, owner)
    weights = check_scope_table(graph, ids, table, owner)[states[:, ids].astype(np.int64) @ places]
    sums = np.zeros(graph.n_features)
    # the kernel directly: CompiledGraph.feature_sums takes sample weights, which are never negative
    _kernels.add_feature_sums(graph._view, np.ascontiguousarray(states, dtype=np.int32), weights, sums)
    return sums


@dataclass(frozen=True)
class ChainStats:
    """What the chains tell the objectives after a run.

    Attributes
    ----------
    mean : ndarray of shape (n_features,)
        Feature means over the chains (and over the run's sweeps when the sampler averages).
    n_chains : int
    sweep : int
        Sweeps done so far.
    n_averaged : int, default 1
        How many consecutive sweeps of each chain ``mean`` averages; 1 means the chains'
        final states only.
    batch_means : ndarray of shape (n_batches, n_averaged, n_features) or None
        When ``mean`` averages sweeps: the feature means of fixed, equal-sized, disjoint groups
        of chains after each of those sweeps. The training monitor estimates from them how
        correlated consecutive sweeps are, and so the standard error of ``mean``. None when
        the sampler does not record them.
    batch_size : int or None, default None
        The chains in each batch of ``batch_means``: batch b holds chains b·batch_size to
        (b + 1)·batch_size − 1. It lets the monitor's jackknife leave groups of chains out of
        the averaged means. None when unknown.
    marginal_counts : dict of tuple of int to ndarray
        For each scope an objective asked for (``Needs.marginals``): how many chains are in
        each joint state of the scope now, an array with one axis per scope variable. Filled
        by the training loop from the sampler's ``marginal_counts``.
    weighted_sums : callable or None
        ``weighted_sums(scope, table)`` gives Σ_c table[x_S^c] f(x^c) over the chains' current
        states (shape (n_features,)); set by the training loop, from the sampler's method of
        that name, when an objective asks for it (``Needs.weighted``).
    """

    mean: np.ndarray
    n_chains: int
    sweep: int
    n_averaged: int = 1
    batch_means: np.ndarray | None = field(default=None, repr=False)
    batch_size: int | None = None
    marginal_counts: dict[tuple[int, ...], np.ndarray] = field(default_factory=dict, repr=False)
    weighted_sums: Callable[[tuple[int, ...], np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def from_states(
        cls, graph: CompiledGraph, states: ArrayLike, scopes: Sequence[ScopeLike] = (), sweep: int = 0
    ) -> ChainStats:
        """The statistics of a set of chain states, as a sampler would report them.

        Parameters
        ----------
        graph : CompiledGraph
        states : array_like of shape (n_chains, n_variables)
        scopes : sequence of sequence of int
            Scopes to fill ``marginal_counts`` for; ``weighted_sums`` is always set.
        sweep : int, default 0

        Examples
        --------
        >>> import numpy as np, factorgraph as fg, samplers
        >>> g = fg.FactorGraph()
        >>> _ = g.add_variables(2, values=[-1, 1])
        >>> _ = g.add_features(fg.features.Product([(0, 1)]))
        >>> stats = samplers.ChainStats.from_states(g.compile(), [[0, 0], [0, 1]], scopes=[(0, 1)])
        >>> stats.mean.tolist(), stats.marginal_counts[(0, 1)].tolist()
        ([0.0], [[1, 1], [0, 0]])
        """
        states = graph._states(states, "ChainStats.from_states")
        n = len(states)
        counts = {tuple(scope): state_marginal_counts(graph, states, scope) for scope in scopes}
        return cls(
            mean=graph.feature_sums(states) / n,
            n_chains=n,
            sweep=sweep,
            marginal_counts=counts,
            weighted_sums=functools.partial(state_weighted_sums, graph, states),
        )


@dataclass(frozen=True)
class SweepInfo:
    """A small record of one ``run``: how much moved.

    Attributes
    ----------
    n_sweeps : int
    n_updates : int
        Single-site updates made (all chains together).
    n_changes : int
        Updates that changed a variable's state.
    extra : dict
        Sampler-specific figures (acceptance rates, cluster sizes, ...).
    """

    n_sweeps: int
    n_updates: int
    n_changes: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def change_rate(self) -> float:
        """The fraction of updates that changed a state."""
        return self.n_changes / self.n_updates if self.n_updates else 0.0


def seed_key(seed: int | np.random.SeedSequence | None) -> tuple[np.ndarray, Any]:
    """Turn a user's seed into the generator's key, two 32-bit words (and the entropy it came from)."""
    if isinstance(seed, np.random.SeedSequence):
        sequence = seed
    elif seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0):
        sequence = np.random.SeedSequence(None if seed is None else int(seed))
    else:
        raise ModelSpecError(message("seed", "a sampler", "an int >= 0, a SeedSequence or None", seed))
    return sequence.generate_state(2, dtype=np.uint32), sequence.entropy


def enumerated_states(graph: CompiledGraph, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Every joint state of a small model, in the order of :func:`factorgraph.exact.enumerate_states`,
    and each variable's place value in that order; for building exact transition matrices.

    Raises
    ------
    ModelTooLargeError
        If the model has more than ``MAX_KERNEL_STATES`` joint states.
    """
    sizes = graph.n_states.astype(np.int64)
    n_joint = int(np.prod(sizes, dtype=object))
    if n_joint > MAX_KERNEL_STATES:
        raise ModelTooLargeError(
            f"{owner}: the model has {n_joint} joint states; transition matrices are built only for models "
            f"with at most {MAX_KERNEL_STATES}. Check the kernel on a smaller model."
        )
    return enumeration.enumerate_states(graph), place_values(sizes)


def single_site_matrix(
    graph: CompiledGraph, theta: ArrayLike, variable: int, move: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> scipy.sparse.csr_matrix:
    """The exact transition matrix of one update of one variable, over every joint state.

    A building block for a sampler's optional ``transition_matrix(theta)``: the matrix of a
    sweep is the product of its updates' matrices in update order (systematic scan), or a power
    of their average (random scan).

    Parameters
    ----------
    graph : CompiledGraph
        A small model: at most ``MAX_KERNEL_STATES`` (4096) joint states.
    theta : array_like of shape (n_features,)
    variable : int
        The variable the update changes; every other variable stays put.
    move : callable
        ``move(energies, current) -> probabilities``. ``energies`` has shape (S, k), k the
        variable's number of states: row i holds θ·f of joint state i with the variable set to
        each of its states (the log of the unnormalised probability). ``current`` has shape
        (S,): the variable's state in each joint state. It returns the (S, k) probabilities that
        the update leaves the variable in each state; each row sums to 1.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (S, S)
        Entry (i, j) is the probability of moving from joint state i to joint state j, with
        states in the order of :func:`factorgraph.exact.enumerate_states` (row-major, the last
        variable fastest), the order of ``fg.exact.probabilities(graph, theta).ravel()``.

    Raises
    ------
    ModelTooLargeError
        If the model has more than ``MAX_KERNEL_STATES`` joint states.
    PluginError
        If ``move`` returns an array of the wrong shape.

    Examples
    --------
    Heat-bath (Gibbs) updates of two coupled spins leave the exact distribution invariant:

    >>> import numpy as np, factorgraph as fg, samplers
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> def heat_bath(energies, current):
    ...     p = np.exp(energies - energies.max(axis=1, keepdims=True))
    ...     return p / p.sum(axis=1, keepdims=True)
    >>> cg, theta = g.compile(), np.array([0.7])
    >>> sweep = (samplers.single_site_matrix(cg, theta, 0, heat_bath)
    ...          @ samplers.single_site_matrix(cg, theta, 1, heat_bath)).toarray()
    >>> pi = fg.exact.probabilities(cg, theta).ravel()
    >>> bool(np.abs(pi @ sweep - pi).max() < 1e-15)
    True
    """
    owner = "single_site_matrix"
    theta = check_theta(theta, graph.n_features, owner)
    variable = check_int("variable", variable, owner)
    if variable >= graph.n_variables:
        raise ModelSpecError(message("variable", owner, f"a variable id < {graph.n_variables}", variable))
    states, place = enumerated_states(graph, owner)
    n_joint = len(states)
    k = int(graph.n_states[variable])
    stride = int(place[variable])
    energies = np.empty((n_joint, k))
    moved = states.copy()
    for s in range(k):
        moved[:, variable] = s
        energies[:, s] = graph.energy(moved, theta, n_threads=1)
    probabilities = np.asarray(move(energies, states[:, variable].copy()), dtype=np.float64)
    if probabilities.shape != (n_joint, k):
        raise PluginError(
            message("move", owner, f"a function returning shape ({n_joint}, {k})", f"shape {probabilities.shape}")
        )
    first = np.arange(n_joint) - states[:, variable].astype(np.int64) * stride  # the variable at state 0
    columns = first[:, None] + np.arange(k) * stride
    return scipy.sparse.csr_matrix(
        (probabilities.ravel(), columns.ravel(), np.arange(0, n_joint * k + 1, k)), shape=(n_joint, n_joint)
    )


class Sampler:
    """Base class of samplers: persistent chains on a compiled graph.

    A sampler owns ``n_chains`` chains that are never restarted. The training loop calls
    ``run(theta, n_sweeps)`` to advance them and ``stats()`` for the feature means; checkpoints
    use ``get_state()`` / ``set_state()``. Subclasses register under a ``name``.

    A sampler may also provide ``transition_matrix(theta)``: the exact (S, S) matrix of one
    sweep over the S joint states of a small model (see :func:`single_site_matrix`). It is
    optional; where present, the test suite checks that it leaves ``fg.exact`` invariant.

    Objectives that read more than the means (marginal priors) call :meth:`marginal_counts` and
    :meth:`weighted_sums`; the defaults here read :attr:`states`, so every subclass has them.

    Parameters
    ----------
    graph : CompiledGraph
    n_chains : int
    seed : int, SeedSequence or None
        Seeds the chains' initial states and every random number the sampler draws. The same
        seed gives bit-identical chains for any thread count.

    Examples
    --------
    A complete, if slow, single-site Metropolis sampler in pure Python. Each sweep draws from a
    generator seeded by (key, sweep), so ``get_state`` can say exactly where the run is, as
    checkpoints need (:class:`factorgraph.contracts.Checkpointable`):

    >>> import numpy as np, factorgraph as fg, samplers
    >>> class ToyMetropolis(samplers.Sampler):
    ...     name = "toy-metropolis"
    ...     def __init__(self, graph, n_chains, *, seed=None):
    ...         super().__init__(graph, n_chains, seed=seed)
    ...         start = np.random.default_rng(self.key)
    ...         self._x = start.integers(0, graph.n_states, size=(n_chains, graph.n_variables))
    ...         self._sweep = 0
    ...     def run(self, theta, n_sweeps):
    ...         for _ in range(n_sweeps):
    ...             rng = np.random.default_rng([*self.key.tolist(), self._sweep])
    ...             for c in range(self.n_chains):
    ...                 for v in range(self.graph.n_variables):
    ...                     e = self.graph.conditional_energies(self._x[c], v, theta)
    ...                     s = rng.integers(e.size)
    ...                     if np.log(rng.random()) < e[s] - e[self._x[c, v]]:
    ...                         self._x[c, v] = s
    ...             self._sweep += 1
    ...         return samplers.SweepInfo(n_sweeps, n_sweeps * self._x.size, 0)
    ...     def stats(self):
    ...         mean = self.graph.feature_sums(self._x) / self.n_chains
    ...         return samplers.ChainStats(mean, self.n_chains, self._sweep)
    ...     @property
    ...     def states(self):
    ...         return self._x.copy()
    ...     def get_state(self):
    ...         return {"states": self._x.copy(), "key": self.key.copy(), "sweep": self._sweep}
    ...     def set_state(self, state):
    ...         self._x = np.array(state["states"])
    ...         self.key, self._sweep = np.array(state["key"], dtype=np.uint32), int(state["sweep"])
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> sampler = ToyMetropolis(g.compile(), n_chains=200, seed=0)
    >>> _ = sampler.run(np.array([1.0]), 50)
    >>> bool(abs(sampler.stats().mean[0] - np.tanh(1.0)) < 0.2)
    True
    """

    name: ClassVar[str] = ""

    def __init__(
        self, graph: CompiledGraph, n_chains: int, *, seed: int | np.random.SeedSequence | None = None
    ) -> None:
        from factorgraph.compiled import CompiledGraph

        if not isinstance(graph, CompiledGraph):
            raise ModelSpecError(
                message("graph", type(self).__name__, "a CompiledGraph", type(graph).__name__, "Pass g.compile().")
            )
        self.graph = graph
        self.n_chains = check_int("n_chains", n_chains, type(self).__name__, minimum=1)
        self.key, self._entropy = seed_key(seed)

    def run(self, theta: np.ndarray, n_sweeps: int) -> SweepInfo:
        """Advance every chain by ``n_sweeps`` sweeps at parameters ``theta``."""
        raise NotImplementedError

    def stats(self) -> ChainStats:
        """Feature means over the chains (see :class:`ChainStats`)."""
        raise NotImplementedError

    @property
    def states(self) -> np.ndarray:
        """The chains' current states, shape (n_chains, n_variables), a copy."""
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: chain states, counters, running sums."""
        raise NotImplementedError

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`."""
        raise NotImplementedError

    def marginal_counts(self, scope: ScopeLike) -> np.ndarray:
        """How many chains are in each joint state of ``scope`` now.

        Parameters
        ----------
        scope : sequence of int
            Distinct variable ids.

        Returns
        -------
        ndarray of int64, one axis per scope variable (shape ``n_states[scope]``)
            Sums to ``n_chains``. This default reads :attr:`states`; samplers with their own
            state layout may answer faster.
        """
        return state_marginal_counts(self.graph, self.states, scope, f"{type(self).__name__}.marginal_counts")

    def weighted_sums(self, scope: ScopeLike, table: ArrayLike) -> np.ndarray:
        """Σ_c table[x_S^c] f(x^c) over the chains' current states: each chain's features weighted
        by a function of its state on ``scope``.

        Parameters
        ----------
        scope : sequence of int
            Distinct variable ids S.
        table : array_like, one axis per scope variable (shape ``n_states[scope]``)
            The weight of each joint state of S.

        Returns
        -------
        ndarray of shape (n_features,)
            This default reads :attr:`states`; samplers with their own state layout may answer
            in one compiled pass.
        """
        return state_weighted_sums(self.graph, self.states, scope, table, f"{type(self).__name__}.weighted_sums")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self.name}': {self.n_chains} chains on {self.graph!r}>"
