"""Metropolis-Hastings sampling of persistent chains, one nogil Cython sweep per call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

from factorgraph._errors import ModelSpecError
from factorgraph._validation import check_int, check_theta, message
from samplers import _mh
from samplers._chains import BlockChains
from samplers._protocol import Sampler, SweepInfo, enumerated_states

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph

__all__ = ["MetropolisHastings", "acceptance_probability"]

PROPOSALS = ("uniform", "random-walk")
#: The most joint states :meth:`MetropolisHastings.transition_matrix` builds a dense matrix for.


class MetropolisHastings(BlockChains, Sampler):
    """Single-site Metropolis-Hastings, colour by colour, with running feature sums.

    Each sweep visits the colour classes of the compiled graph in order; every variable of a
    class, in every chain, proposes a new state and accepts it with probability
    min(1, exp(θ·f(x') − θ·f(x))) (see :func:`acceptance_probability`: a two-state variable's
    flip with no energy change is accepted with probability 1/2, which keeps the chain
    aperiodic). Within a class all (variable, block of chains) pairs run in parallel. The
    acceptance rate of each colour is recorded.

    Parameters
    ----------
    graph : CompiledGraph
    n_chains : int
        The number of persistent chains.
    seed : int, SeedSequence or None
        Seeds the chains' initial states and every random number drawn by the sampler (a
        counter-based Philox generator keyed by seed, chain, sweep and variable). The same
        seed gives bit-identical chains, sums and acceptance counts for any thread count, and
        chains 0..C-1 of a larger run equal a C-chain run.
    proposal : {"uniform", "random-walk"} or sequence of them, default "uniform"
        ``"uniform"``: one of the variable's other states, each equally likely.
        ``"random-walk"``: a step of ±1..``step`` states through the variable's states in
        increasing order of their values (bin centres for binned variables), each of the
        2 × ``step`` offsets equally likely, reflected at the ends by mirrors half a state
        beyond the lowest and highest state so that the proposal stays symmetric; a walk may
        then propose staying put, which counts as an accepted proposal. Two-state variables
        always propose their other state. A sequence gives one name per variable.
        Every domain in this library has distinct numeric values, hence an order, so a walk is
        always defined; for variables declared by ``n_states`` alone (Potts colours) that order
        is the state index, which is valid but rarely meaningful: give them ``"uniform"``.
    step : int, default 1
        The largest random-walk step w, in states.
    n_threads : int, optional
        Threads for the sweeps: None uses every usable core (honouring OMP_NUM_THREADS).
    block_size : int, optional
        Chains per block of running sums and the unit of parallel work, as for
        :class:`~samplers.Gibbs`.
    refresh_every : int, default 1000
        Re-derive the running sums exactly from the states every this many sweeps.
    average_sweeps : bool, default False
        When True, ``stats().mean`` averages the chains over every sweep of the last ``run``
        and ``stats().batch_means`` holds the per-sweep means of each full block of chains, as
        for :class:`~samplers.Gibbs`.
    first_chain : int, default 0
        The global index of the first chain (its random numbers), for runs split over workers.

    Attributes
    ----------
    acceptance : ndarray of shape (n_colors,)
        The fraction of proposals accepted in each colour over all runs so far (NaN for a
        colour whose variables all have a single state).

    Notes
    -----
    ``run`` returns a :class:`~samplers.SweepInfo` whose ``extra`` holds, for that run and per
    colour, ``"acceptance"`` (the rate), ``"proposals"`` and ``"accepted"`` (the counts).
    ``n_updates`` counts proposals and ``n_changes`` accepted proposals that changed a state.
    Proposals use the generator's stream 2 and acceptance draws stream 3.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, samplers
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> sampler = samplers.create("mh", g.compile(), n_chains=4000, seed=1)
    >>> info = sampler.run(np.array([0.5]), 20)
    >>> bool(abs(sampler.stats().mean[0] - np.tanh(0.5)) < 0.05)
    True
    >>> info.extra["acceptance"].shape  # one rate per colour
    (2,)
    """

    name = "mh"

    def __init__(
        self,
        graph: CompiledGraph,
        n_chains: int,
        *,
        seed: int | np.random.SeedSequence | None = None,
        proposal: str | Any = "uniform",
        step: int = 1,
        n_threads: int | None = None,
        block_size: int | None = None,
        refresh_every: int = 1000,
        average_sweeps: bool = False,
        first_chain: int = 0,
    ) -> None:
        super().__init__(graph, n_chains, seed=seed)
        self.step = check_int("step", step, "MetropolisHastings", minimum=1, maximum=2**30)
        self._walk = _walk_flags(proposal, graph.n_variables)
        self.proposal = proposal if isinstance(proposal, str) else tuple(PROPOSALS[w] for w in self._walk)
        self._moves = _mh.Moves(
            self._walk, self.step, graph.value_offset, _value_order(graph), graph.n_states, graph.color_ptr
        )
        self._setup_chains(n_threads, block_size, refresh_every, average_sweeps, first_chain)
        self._counts = np.zeros((graph.n_colors, 2), dtype=np.int64)  # proposals, accepted

    def run(self, theta: ArrayLike, n_sweeps: int, n_threads: int | None = None) -> SweepInfo:
        """Advance every chain by ``n_sweeps`` sweeps at ``theta``.

        Returns
        -------
        SweepInfo
            With ``extra["acceptance"]``, ``extra["proposals"]`` and ``extra["accepted"]``,
            arrays of shape (n_colors,) for this run.
        """
        theta, n_sweeps = self._check_run(theta, n_sweeps)
        counts = np.zeros((self.graph.n_colors, 2), dtype=np.int64)  # proposals, accepted

        def kernel(first_sweep: int, step: int, threads: int) -> int:
            return _mh.sweep(
                self.graph._view,
                self._moves,
                self._x,
                theta,
                self._sums,
                self.key,
                self.n_chains,
                self.first_chain,
                self.block_size,
                first_sweep,
                step,
                threads,
                counts,
            )

        changes = self._advance(n_sweeps, self._run_threads(n_threads), kernel)
        self._counts += counts
        extra = {"acceptance": _rates(counts), "proposals": counts[:, 0].copy(), "accepted": counts[:, 1].copy()}
        return SweepInfo(n_sweeps, int(counts[:, 0].sum()), changes, extra)

    @property
    def acceptance(self) -> np.ndarray:
        """The fraction of proposals accepted per colour over all runs so far, shape (n_colors,)."""
        return _rates(self._counts)

    @property
    def acceptance_counts(self) -> np.ndarray:
        """Proposals and accepted proposals per colour over all runs, shape (n_colors, 2), a copy."""
        return self._counts.copy()

    def reset_acceptance(self) -> None:
        """Start the cumulative acceptance counts afresh (e.g. after burn-in)."""
        self._counts[:] = 0

    def get_state(self) -> dict[str, Any]:
        """Chain states, sweep counter, generator key, running sums and acceptance counts."""
        return {**super().get_state(), "acceptance_counts": self._counts.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`; continuing gives the uninterrupted run's bits."""
        counts = np.zeros_like(self._counts)
        if isinstance(state, dict) and "acceptance_counts" in state:
            counts = np.asarray(state["acceptance_counts"])
            if counts.shape != self._counts.shape or counts.dtype.kind not in "ui" or (counts < 0).any():
                raise ModelSpecError(
                    message(
                        "acceptance_counts",
                        "MetropolisHastings.set_state",
                        f"non-negative ints of shape {self._counts.shape}",
                        f"{counts.dtype} of shape {counts.shape}",
                    )
                )
        super().set_state(state)
        self._counts = counts.astype(np.int64)

    def transition_matrix(self, theta: ArrayLike) -> np.ndarray:
        """The exact transition matrix of one sweep, for models with few joint states.

        The single-variable Metropolis-Hastings kernels are composed colour by colour in the
        compiled colouring's order, the order of a sweep. Joint states are indexed as by
        :func:`factorgraph.exact.enumerate_states` (row-major, the last variable fastest).

        Parameters
        ----------
        theta : array_like of shape (n_features,)

        Returns
        -------
        ndarray of shape (S, S)
            Row x is the distribution of the state after one sweep from x;
            S = prod(n_states) ≤ 4096.

        Raises
        ------
        ModelTooLargeError
            When the model has more than 4096 joint states.
        """
        owner = "MetropolisHastings.transition_matrix"
        theta = check_theta(theta, self.graph.n_features, owner)
        states, place = enumerated_states(self.graph, owner)
        sizes = self.graph.n_states
        total = len(states)
        energy = self.graph.energy(states, theta, n_threads=1)
        index = np.arange(total)
        sweep = np.eye(total)
        for variables in self.graph.color_classes:
            for v in variables.tolist():
                if sizes[v] < 2:
                    continue
                q = self.proposal_probabilities(v)
                xv = states[:, v].astype(np.int64)
                rows, cols, probs = [index], [index], []
                stay = np.ones(total)  # the rejected mass stays, with null proposals
                for b in range(sizes[v]):
                    move = xv != b
                    target = index[move] + (b - xv[move]) * place[v]
                    p = q[xv[move], b] * acceptance_probability(energy[target] - energy[move], sizes[v])
                    stay[move] -= p
                    rows.append(index[move])
                    cols.append(target)
                    probs.append(p)
                kernel = scipy.sparse.csr_matrix(
                    (np.concatenate([stay, *probs]), (np.concatenate(rows), np.concatenate(cols))),
                    shape=(total, total),
                )
                sweep = np.asarray((kernel.T @ sweep.T).T)
        return sweep

    def proposal_probabilities(self, v: int) -> np.ndarray:
        """The proposal distribution of variable ``v``: entry (a, b) is the probability that
        state a proposes state b (the diagonal holds a walk's reflected null proposals).

        Returns
        -------
        ndarray of shape (n_states[v], n_states[v])
            Symmetric, rows summing to 1.
        """
        v = check_int("v", v, "MetropolisHastings.proposal_probabilities", maximum=self.graph.n_variables - 1)
        k = int(self.graph.n_states[v])
        if k < 2:
            return np.ones((1, 1))
        if not self._walk[v] or k == 2:
            return (np.ones((k, k)) - np.eye(k)) / (k - 1)
        # offsets d in ±1..w counted by residue modulo P = 2k, then folded as in the kernel
        w, period = self.step, 2 * k
        residue = np.arange(period)
        first = np.where(residue >= 1, residue, period)  # the least d >= 1 with d = a (mod P)
        positive = np.where(first <= w, (w - first) // period + 1, 0)
        count = positive + positive[(-residue) % period]  # d <= -1 mirrors -d >= 1
        y = (np.arange(k)[:, None] + residue[None, :]) % period
        y = np.where(y >= k, period - 1 - y, y)
        by_rank = np.zeros((k, k))
        np.add.at(by_rank, (np.repeat(np.arange(k), period), y.ravel()), np.tile(count, k) / (2 * w))
        order = _value_order(self.graph)[self.graph.value_offset[v] : self.graph.value_offset[v] + k]
        q = np.zeros((k, k))
        q[np.ix_(order, order)] = by_rank
        return q


def _walk_flags(proposal: Any, n_variables: int) -> np.ndarray:
    """One int8 per variable: 1 for a random walk, 0 for uniform proposals."""
    owner = "MetropolisHastings"
    if isinstance(proposal, str):
        if proposal not in PROPOSALS:
            raise ModelSpecError(message("proposal", owner, "'uniform' or 'random-walk'", proposal))
        return np.full(n_variables, PROPOSALS.index(proposal), dtype=np.int8)
    names = np.asarray(proposal, dtype=object)
    if names.shape != (n_variables,):
        raise ModelSpecError(
            message("proposal", owner, f"a name or one name per variable ({n_variables})", f"shape {names.shape}")
        )
    bad = [name for name in names.tolist() if name not in PROPOSALS]
    if bad:
        raise ModelSpecError(message("proposal", owner, "made of 'uniform' and 'random-walk'", bad[0]))
    return np.array([PROPOSALS.index(name) for name in names.tolist()], dtype=np.int8)


def _value_order(graph: CompiledGraph) -> np.ndarray:
    """Laid out like ``graph.values``: each domain's states from the lowest value to the highest."""
    order = np.zeros(len(graph.values), dtype=np.int32)
    domains = np.unique(np.stack([graph.value_offset, graph.n_states.astype(np.int64)], axis=1), axis=0)
    for start, k in domains.tolist():
        order[start : start + k] = np.argsort(graph.values[start : start + k], kind="stable")
    return order


def acceptance_probability(delta: np.ndarray, n_states: int) -> np.ndarray:
    """The probability that the kernel accepts a move that changes the energy θ·f by ``delta``.

    min(1, e^delta), except that a two-state variable's flip with no energy change is accepted
    with probability 1/2, so that a variable whose energy never changes does not flip every
    sweep (a periodic chain). Either way a(delta) / a(-delta) = e^delta (detailed balance).
    """
    delta = np.asarray(delta, dtype=np.float64)
    accept = np.exp(np.minimum(delta, 0.0))
    return np.where((delta == 0.0) & (n_states == 2), 0.5, accept)


def _rates(counts: np.ndarray) -> np.ndarray:
    """accepted / proposed per row, NaN where nothing was proposed."""
    rates = np.full(len(counts), np.nan)
    np.divide(counts[:, 1], counts[:, 0], out=rates, where=counts[:, 0] > 0)
    return rates
