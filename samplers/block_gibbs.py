"""Block Gibbs sampling of persistent chains: exact joint updates of small groups of variables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse

from factorgraph import coloring
from factorgraph._errors import ModelSpecError
from factorgraph._validation import as_int_array, check_int, check_theta, message
from samplers import _block
from samplers._chains import BlockChains
from samplers._protocol import Sampler, SweepInfo, enumerated_states

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph

__all__ = ["BlockGibbs", "BlockSpecError", "automatic_blocks"]

#: The largest ``max_joint_states`` accepted: the energies of one block's joint states must fit
#: in a thread's scratch (16 M doubles, 128 MiB).
MAX_JOINT_STATES_LIMIT = 2**24


class BlockSpecError(ModelSpecError):
    """The blocks given to the block Gibbs sampler are invalid (a ValueError too)."""


class BlockGibbs(BlockChains, Sampler):
    """Block Gibbs sampling: exact joint heat-bath updates of blocks of variables.

    A sweep redraws each block of variables, in every chain, from its exact joint conditional
    distribution given the rest of the chain: the energy θ·f of every joint state of the block
    is computed from the factors that touch it and one joint state is drawn. Blocks that share
    no factor are independent given the rest, so the blocks are coloured (two blocks interact
    when some factor touches both) and each colour class is updated in parallel, over
    (block, block of chains) items, as Gibbs updates its variable colour classes.

    Parameters
    ----------
    graph : CompiledGraph
    n_chains : int
        The number of persistent chains.
    seed : int, SeedSequence or None
        Seeds the chains' initial states and every random number drawn by the sampler (a
        counter-based Philox generator keyed by seed, chain, sweep and block). The same seed
        gives bit-identical chains and sums for any thread count, and chains 0..C-1 of a
        larger run equal a C-chain run.
    blocks : sequence of sequences of int, optional
        The blocks, each a sequence of variable ids; a variable may appear in at most one
        block, and variables not listed are updated alone. A block's joint states (the product
        of its variables' state counts) may number at most ``max_joint_states`` unless it is a
        single variable. None (the default) builds blocks automatically (see
        :func:`automatic_blocks`).
    max_joint_states : int, default 1024
        The most joint states a block of two or more variables may have: the limit of the
        automatic construction and a check on given blocks. At most 2**24.
    n_threads : int, optional
        Threads for the sweeps: None uses every usable core (honouring OMP_NUM_THREADS).
    block_size : int, optional
        Chains per block of running sums and the unit of parallel work, as for
        :class:`~samplers.Gibbs` (a block of *chains*, not of variables).
    refresh_every : int, default 1000
        Re-derive the running sums exactly from the states every this many sweeps.
    average_sweeps : bool, default False
        When True, ``stats().mean`` averages the chains over every sweep of the last ``run``.
    first_chain : int, default 0
        The global index of the first chain (its random numbers), for runs split over workers.

    Attributes
    ----------
    blocks : tuple of ndarray
        The blocks in update order (colour class by colour class), each an int32 array of
        variable ids; a block's joint states are numbered row-major over its variables in
        this order.
    block_colors : ndarray of shape (n_blocks,), int32
        The colour of each block, non-decreasing.

    Raises
    ------
    BlockSpecError
        When ``blocks`` lists a variable twice, names a variable that does not exist, or holds a
        block with more than ``max_joint_states`` joint states.

    Notes
    -----
    The cost of updating a block is its number of joint states times the number of factors
    that touch it, per chain. ``run`` returns a :class:`~samplers.SweepInfo` that counts one
    update per variable and chain (``n_updates``) and the variables whose state changed
    (``n_changes``). The block draws use the generator's stream 8.

    Examples
    --------
    Two strongly coupled spins drawn jointly:

    >>> import numpy as np, factorgraph as fg, samplers
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(4, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2), (2, 3)]))
    >>> sampler = samplers.create("block-gibbs", g.compile(), n_chains=4000, seed=1, blocks=[(0, 1), (2, 3)])
    >>> [b.tolist() for b in sampler.blocks]
    [[0, 1], [2, 3]]
    >>> _ = sampler.run(np.array([3.0, 0.2, 3.0]), 20)
    >>> bool(abs(sampler.stats().mean[0] - np.tanh(3.0)) < 0.02)
    True
    """

    name = "block-gibbs"

    def __init__(
        self,
        graph: CompiledGraph,
        n_chains: int,
        *,
        seed: int | np.random.SeedSequence | None = None,
        blocks: Sequence[Sequence[int]] | None = None,
        max_joint_states: int = 1024,
        n_threads: int | None = None,
        block_size: int | None = None,
        refresh_every: int = 1000,
        average_sweeps: bool = False,
        first_chain: int = 0,
    ) -> None:
        super().__init__(graph, n_chains, seed=seed)
        self.max_joint_states = check_int(
            "max_joint_states",
            max_joint_states,
            "BlockGibbs",
            minimum=1,
            maximum=MAX_JOINT_STATES_LIMIT,
            error=BlockSpecError,
        )
        if blocks is None:
            labels = automatic_blocks(graph, self.max_joint_states)
        else:
            labels = _given_blocks(graph, blocks, self.max_joint_states)
        self.blocks, self.block_colors = _colored_blocks(graph, labels)
        self._setup_chains(n_threads, block_size, refresh_every, average_sweeps, first_chain)
        self._blocks = self._kernel_blocks()

    def _kernel_blocks(self) -> _block.Blocks:
        """The kernel's tables of the blocks (rebuilt after unpickling: they hold a graph view)."""
        sizes = [len(b) for b in self.blocks]
        color_ptr = np.searchsorted(self.block_colors, np.arange(self.block_colors.max(initial=-1) + 2))
        return _block.Blocks(
            self.graph._view,
            np.concatenate([[0], np.cumsum(sizes)]),
            np.concatenate([np.zeros(0, np.int32), *self.blocks]),
            color_ptr,
        )

    def __getstate__(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name != "_blocks"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._blocks = self._kernel_blocks()

    def run(self, theta: ArrayLike, n_sweeps: int, n_threads: int | None = None) -> SweepInfo:
        """Advance every chain by ``n_sweeps`` sweeps at ``theta``.

        Returns
        -------
        SweepInfo
            ``n_updates`` counts one update per variable and chain per sweep, ``n_changes`` the
            variables whose state changed.
        """
        theta, n_sweeps = self._check_run(theta, n_sweeps)

        def kernel(first_sweep: int, step: int, threads: int) -> int:
            return _block.sweep(
                self.graph._view,
                self._blocks,
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
            )

        changes = self._advance(n_sweeps, self._run_threads(n_threads), kernel)
        return SweepInfo(n_sweeps, n_sweeps * self.n_chains * self.graph.n_variables, changes)

    def transition_matrix(self, theta: ArrayLike) -> np.ndarray:
        """The exact transition matrix of one sweep, for models with few joint states.

        The exact heat-bath kernel of each block (its joint conditional distribution given the
        other variables) is composed in the sweep's order, colour class by colour class.

        Parameters
        ----------
        theta : array_like of shape (n_features,)

        Returns
        -------
        ndarray of shape (S, S)
            Entry (i, j) is the probability that one sweep takes joint state i to joint state j,
            states in the order of :func:`factorgraph.exact.enumerate_states`;
            S = prod(n_states) ≤ 4096.

        Raises
        ------
        ModelTooLargeError
            When the model has more than 4096 joint states.
        """
        owner = "BlockGibbs.transition_matrix"
        theta = check_theta(theta, self.graph.n_features, owner)
        states, place = enumerated_states(self.graph, owner)
        sizes = self.graph.n_states
        total = len(states)
        energy = self.graph.energy(states, theta, n_threads=1)
        index = np.arange(total)
        sweep = np.eye(total)
        for block in self.blocks:
            # the block's joint states J, as offsets of the joint-state index from the block at 0
            block_states = np.indices([sizes[v] for v in block]).reshape(len(block), -1).T
            offsets = block_states @ place[block]
            targets = (index - states[:, block].astype(np.int64) @ place[block])[:, None] + offsets
            e = energy[targets]
            p = np.exp(e - e.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            kernel = scipy.sparse.csr_matrix(
                (p.ravel(), targets.ravel(), np.arange(0, p.size + 1, p.shape[1])), shape=(total, total)
            )
            sweep = np.asarray((kernel.T @ sweep.T).T)
        return sweep


def automatic_blocks(graph: CompiledGraph, max_joint_states: int = 1024) -> np.ndarray:
    """Group the variables into blocks along their factors, greedily.

    Every pair of variables that share a factor is weighted by the number of factors they
    share. Starting from one block per variable, the pairs are taken from the heaviest down
    (ties by increasing variable ids), and each merges the blocks of its two variables when the
    merged block would have at most ``max_joint_states`` joint states. Densely connected
    variables thus end up together, and a chain of binary variables is cut into runs of
    log2(max_joint_states) variables.

    Parameters
    ----------
    graph : CompiledGraph
    max_joint_states : int, default 1024
        The most joint states (product of state counts) of a merged block.

    Returns
    -------
    ndarray of shape (n_variables,), int64
        Each variable's block, labelled by the block's smallest variable.

    Examples
    --------
    >>> import factorgraph as fg, samplers
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(6, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]))
    >>> samplers.block_gibbs.automatic_blocks(g.compile(), max_joint_states=8).tolist()
    [0, 0, 0, 3, 3, 3]
    """
    n = graph.n_variables
    arity = np.diff(graph.factor_ptr)
    incidence = scipy.sparse.csr_array(
        (np.ones(len(graph.factor_vars)), graph.factor_vars, graph.factor_ptr), shape=(len(arity), n)
    )
    shared = scipy.sparse.triu(incidence.T @ incidence, k=1).tocoo()
    order = np.lexsort((shared.col, shared.row, -shared.data))
    return _block.greedy_blocks(
        graph.n_states, shared.row[order].astype(np.int32), shared.col[order].astype(np.int32), max_joint_states
    )


def _given_blocks(graph: CompiledGraph, blocks: Any, max_joint_states: int) -> np.ndarray:
    """Validate the user's blocks; return each variable's block label (singletons for the rest)."""
    owner = "BlockGibbs"
    n = graph.n_variables
    if isinstance(blocks, str | bytes) or not isinstance(blocks, Sequence | np.ndarray):
        raise BlockSpecError(message("blocks", owner, "a list of sequences of variable ids", blocks))
    labels = np.arange(n, dtype=np.int64)
    seen = np.full(n, -1, dtype=np.int64)
    for i, block in enumerate(blocks):
        members = as_int_array(f"blocks[{i}]", block, owner, error=BlockSpecError)
        if members.ndim != 1 or members.size == 0:
            raise BlockSpecError(message(f"blocks[{i}]", owner, "a non-empty sequence of variable ids", block))
        bad = members[(members < 0) | (members >= n)]
        if bad.size:
            raise BlockSpecError(
                message(
                    f"blocks[{i}]",
                    owner,
                    f"made of variable ids 0..{n - 1}",
                    block,
                    f"Variable {int(bad[0])} does not exist; the model has {n} variables.",
                )
            )
        for v in members.tolist():
            if seen[v] >= 0:
                where = f"blocks[{seen[v]}] and blocks[{i}]" if seen[v] != i else f"blocks[{i}] twice"
                raise BlockSpecError(
                    f"Variable {v} appears in {where}; a variable may belong to one block only. "
                    "Remove it from all blocks but one."
                )
            seen[v] = i
        joint = int(np.prod(graph.n_states[members].astype(object)))
        if members.size > 1 and joint > max_joint_states:
            raise BlockSpecError(
                f"blocks[{i}] has {joint} joint states, more than max_joint_states={max_joint_states}. Split the "
                "block, or raise max_joint_states (each update of the block costs its joint states times its "
                "factors)."
            )
        labels[members] = members.min()
    return labels


def _colored_blocks(graph: CompiledGraph, labels: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Blocks from per-variable labels (variables in increasing order within a block),
    coloured so that blocks sharing a factor differ, in update order: by colour, then by label."""
    names, block_of = np.unique(labels, return_inverse=True)
    n_blocks = len(names)
    # factor x block incidence; two blocks interact when some factor touches both
    touches = scipy.sparse.csr_array(
        (np.ones(len(graph.factor_vars)), block_of[graph.factor_vars], graph.factor_ptr),
        shape=(graph.n_factors, n_blocks),
    )
    adjacency = (touches.T @ touches).tolil()
    adjacency.setdiag(0)
    colors = coloring.color(scipy.sparse.csr_array(adjacency), "auto") if n_blocks else np.zeros(0, np.int32)
    order = np.lexsort((np.arange(n_blocks), colors))
    by_block = np.argsort(block_of, kind="stable")
    members = np.split(by_block, np.cumsum(np.bincount(block_of, minlength=n_blocks))[:-1])
    return tuple(members[b].astype(np.int32) for b in order), colors[order].astype(np.int32)
