"""Machinery shared by the single-site samplers: chain-innermost states and block running sums.

:class:`BlockChains` owns the chains' states (``x[v * n_chains + c]``, int32), the running feature
sums (one float64 row per fixed block of chains), the sweep counter, the periodic exact refresh
of the sums, the averaging of statistics over sweeps (with the per-sweep batch means from which
the training monitor estimates the error of that average), and checkpoints. A sampler mixes it
in before :class:`~samplers.Sampler`, calls :meth:`BlockChains._setup_chains` in its
constructor, checks ``run``'s arguments with :meth:`BlockChains._check_run` and advances the
chains with :meth:`BlockChains._advance`, passing its own nogil sweep. Gibbs and MH share it.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from factorgraph._errors import DataError, ModelSpecError
from factorgraph._memory import allocating, chain_bytes, check_estimate
from factorgraph._openmp import effective_n_threads
from factorgraph._validation import check_int, check_scope, check_scope_table, check_states, check_theta, message
from samplers import _core
from samplers._protocol import ChainStats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import ScopeLike
    from factorgraph.compiled import CompiledGraph

__all__ = [
    "BlockChains",
    "DEFAULT_BLOCK",
    "MAX_SUMS_BYTES",
    "BATCH_BYTES",
    "MIN_WORK_PER_THREAD",
    "default_block_size",
    "batches_fit",
    "paying_threads",
    "ThreadChoice",
]

DEFAULT_BLOCK = 64  # chains per block: sixteen 4-wide vectors, so the fixed cost of an item is shared widely
MAX_SUMS_BYTES = 256 * 2**20  # the default block grows rather than let the running sums exceed this
RECOMPUTE_ABOVE_BYTES = 2 * 2**20  # "auto" sums: recompute from the states when a block's sums exceed this
BATCH_BYTES = 64 * 2**20  # the most the per-sweep batch means of one averaging run may take
RECORD_BYTES = 32 * 2**20  # the most the recorded states of an averaging run take between two counts


def _min_work_from_environment(default: int) -> int:
    """FACTORGRAPH_MIN_THREAD_WORK as a count of table entries, or ``default`` (with a warning
    that says why) when it is unset or not a whole number >= 0."""
    text = os.environ.get("FACTORGRAPH_MIN_THREAD_WORK")
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        warnings.warn(
            f"FACTORGRAPH_MIN_THREAD_WORK={text!r} is not a whole number >= 0; using {default}.",
            RuntimeWarning,
            stacklevel=2,
        )
        return default
    return value


#: Table entries (one per state of the updated variable and factor it is in) each thread must
#: read between two barriers for a second thread to pay, about 50 µs of updates: below it,
#: waking the threads and meeting at the barrier cost more than the thread saves, and when
#: another process holds a core, every barrier can wait for a whole time slice. The
#: environment variable FACTORGRAPH_MIN_THREAD_WORK overrides it (0: every requested thread).
MIN_WORK_PER_THREAD = _min_work_from_environment(2**17)

#: A kernel advances the chains: (first sweep, sweeps, threads) -> state changes.
Kernel = Callable[[int, int, int], int]


def _no_sweep(first_sweep: int, step: int, threads: int) -> int:
    return 0


def paying_threads(requested: int, n_chains: int, block_size: int, sweep_work: float, n_colors: int) -> int:
    """The threads, at most ``requested``, whose share of the work between two barriers is at
    least MIN_WORK_PER_THREAD.

    ``sweep_work`` is one chain's work in a sweep (table entries). With at least two blocks of
    chains per thread the threads meet once a run (at least a sweep of every chain apart);
    otherwise once a colour (a sweep of every chain over ``n_colors``): the two schedules of
    ``samplers._driver``. The thread count changes no bit of the result.
    """
    threads = requested
    n_blocks = -(-n_chains // max(block_size, 1))
    while threads > 1:
        between = n_chains * sweep_work / (1 if n_blocks >= 2 * threads else max(n_colors, 1))
        if between >= threads * MIN_WORK_PER_THREAD:
            break
        threads -= 1
    return threads


class ThreadChoice:
    """The thread count of a sampler's runs, chosen from the times the runs take: the most
    threads that pay (:func:`paying_threads`), or one, whichever took less time per unit of
    work lately.

    A second thread pays only while it has a core to itself. Beside a busy process, the thread
    that shares a core is descheduled for whole time slices, and the others wait for it at each
    barrier: the digits model trained at 0.7 times its one-thread speed on two threads. So each
    run is timed, the cheaper count is kept, and now and then TRY_RUNS runs in a row try the
    other (runs on a shared core are fast or slow by turns, so one run would not tell): after
    PROBE_FIRST runs, then after twice as many each time a try confirms the choice (PROBE_MOST
    at most), and again after PROBE_FIRST when it does not. Once settled, TRY_RUNS runs in
    PROBE_MOST try the other count, and a change of load is found within PROBE_MOST runs. The
    thread count changes no bit of the result. With MIN_WORK_PER_THREAD at 0 every requested
    thread runs, as the test suite needs.
    """

    PROBE_FIRST = 4
    PROBE_MOST = 512
    TRY_RUNS = 4
    _WEIGHT = 0.25  # of the latest run in a count's running cost

    def __init__(self) -> None:
        self._cost: dict[int, float] = {}  # seconds per unit of work, per thread count
        self._runs = 0
        self._interval = self._next_try = self.PROBE_FIRST
        self._trying: int | None = None
        self._most = 1
        self._tried = (0.0, 0.0, 0)  # the try's seconds, work and runs so far

    def choose(self, most: int) -> int:
        """The thread count of the next run, at most ``most`` (the threads that pay)."""
        if most <= 1 or MIN_WORK_PER_THREAD == 0:
            return most
        self._runs += 1
        if self._trying is not None and self._most == most:
            return self._trying
        self._trying, self._most = None, most
        best = self._best(most)
        if most in self._cost and self._runs > self._next_try:
            self._trying, self._tried = (1 if best == most else most), (0.0, 0.0, 0)
            return self._trying
        return best

    def record(self, threads: int, work: float, seconds: float) -> None:
        """A run on ``threads`` threads did ``work`` (table entries read) in ``seconds``."""
        if seconds <= 0.0 or work <= 0.0:
            return
        if self._trying is not None and threads == self._trying:
            spent, done, runs = self._tried
            self._tried = (spent + seconds, done + work, runs + 1)
            if runs + 1 < self.TRY_RUNS:
                return
            self._cost[threads] = self._tried[0] / self._tried[1]
            switched = self._best(self._most) == threads
            self._interval = self.PROBE_FIRST if switched else min(2 * self._interval, self.PROBE_MOST)
            self._next_try, self._trying = self._runs + self._interval, None
            return
        before = self._cost.get(threads)
        cost = seconds / work
        self._cost[threads] = cost if before is None else before + self._WEIGHT * (cost - before)

    def _best(self, most: int) -> int:
        one, many = self._cost.get(1), self._cost.get(most)
        return 1 if one is not None and many is not None and one < many else most


def default_block_size(n_chains: int, n_features: int) -> int:
    """The default chains per block: DEFAULT_BLOCK, raised where the running sums of all
    blocks would exceed MAX_SUMS_BYTES. It depends on the chain and feature counts only."""
    return max(DEFAULT_BLOCK, -(-n_chains * n_features * 8 // MAX_SUMS_BYTES))


def batches_fit(n_full_blocks: int, n_sweeps: int, n_features: int) -> bool:
    """Whether the per-sweep means of ``n_full_blocks`` blocks over ``n_sweeps`` averaged
    sweeps are recorded (they take at most BATCH_BYTES; at least two sweeps are needed)."""
    return n_sweeps >= 2 and n_full_blocks * n_sweeps * n_features * 8 <= BATCH_BYTES


def _zeroed_rows(previous: np.ndarray | None, n_rows: int, n_features: int) -> np.ndarray:
    """Zeroed rows for the sums over a run's averaged sweeps: the last run's, reused when they
    have the shape (a fresh array of a large model costs a page fault per 4 KiB)."""
    if previous is None or previous.shape != (n_rows, n_features):
        return np.zeros((n_rows, n_features))
    previous.fill(0.0)
    return previous


class _Recorder:
    """The sweeps of one averaging run, recorded and counted in batches (RECORD_BYTES at most):
    each factor then counts every recorded sweep of every chain at once, in cache
    (``_core.add_recorded_sums``), instead of a row of every feature per block and sweep."""

    def __init__(self, chains: BlockChains, sums: np.ndarray, n_sweeps: int, threads: int) -> None:
        self.chains, self.sums, self.threads = chains, sums, threads
        size = max(chains._x.size, 1)
        self.states = np.empty((max(1, min(n_sweeps, RECORD_BYTES // (4 * size))), size), dtype=np.int32)
        self.n = 0

    def record(self) -> None:
        """Keep the states after one sweep; count the batch when it is full."""
        if self.n == len(self.states):
            self.count()
        self.states[self.n] = self.chains._x
        self.n += 1

    def count(self) -> None:
        """Add the recorded sweeps' sums to the average's rows, and start a new batch."""
        chains = self.chains
        if self.n and chains._x.size and chains.graph.n_factors:
            _core.add_recorded_sums(
                chains.graph._view,
                self.states[: self.n],
                self.sums,
                chains.n_chains,
                chains.block_size,
                self.threads,
            )
        self.n = 0


class BlockChains:
    """Mixin: persistent chain states, per-block running sums, refresh, averaging, checkpoints.

    The host class must also derive from :class:`~samplers.Sampler` (which sets ``graph``,
    ``n_chains``, ``key`` and ``name``). Sums are kept per fixed block of chains and totalled in
    block order, so they are bit-identical for any thread count when the kernel updates each
    block's row in a fixed order.
    """

    graph: CompiledGraph
    n_chains: int
    key: np.ndarray
    name: ClassVar[str]

    def _setup_chains(
        self,
        n_threads: int | None,
        block_size: int | None,
        refresh_every: int,
        average_sweeps: bool,
        first_chain: int,
        sums: str = "incremental",
    ) -> None:
        """Validate the common options, draw the initial states and compute the sums.

        ``sums`` is "incremental" (the kernel moves the sums with each change), "recompute"
        (the kernel leaves them alone; they are re-derived from the states when read) or
        "auto" (recompute when one block's sums exceed RECOMPUTE_ABOVE_BYTES); only samplers
        whose kernel can leave the sums alone offer the choice.
        """
        owner = type(self).__name__
        graph = self.graph
        self.n_threads = n_threads
        effective_n_threads(n_threads)  # validate now, not at the first run
        if block_size is None:
            block_size = default_block_size(self.n_chains, graph.n_features)
        # one block can hold every chain; a larger block changes nothing
        self.block_size = max(min(check_int("block_size", block_size, owner, minimum=1), self.n_chains), 1)
        self.refresh_every = check_int("refresh_every", refresh_every, owner, minimum=1)
        self.average_sweeps = bool(average_sweeps)
        self.first_chain = check_int("first_chain", first_chain, owner, minimum=0)
        if sums not in ("auto", "incremental", "recompute"):
            raise ModelSpecError(message("sums", owner, "'auto', 'incremental' or 'recompute'", sums))
        if sums == "auto":  # scattered updates of sums far larger than a cache miss it every time
            sums = "recompute" if graph.n_features * 8 > RECOMPUTE_ABOVE_BYTES else "incremental"
        self.sums = sums
        n_blocks = -(-self.n_chains // self.block_size)
        what = (
            f"the {self.name} sampler's chains (n_chains={self.n_chains}, n_variables={graph.n_variables}, "
            f"n_features={graph.n_features})"
        )
        nbytes = chain_bytes(self.n_chains, graph.n_variables, graph.n_features, n_blocks)
        shrink = "Use fewer chains, or a smaller model."
        check_estimate(what, nbytes, shrink, stacklevel=4)
        with allocating(what, nbytes, shrink):
            self._x = np.zeros(graph.n_variables * self.n_chains, dtype=np.int32)
            self._sums = np.zeros((n_blocks, graph.n_features))
        _core.init_states(graph._view, self._x, self.key, self.n_chains, self.first_chain)
        # every feature owned by one factor: the refresh may clear and add factor by factor
        self._owned = _core.owned_widths(graph._view)
        # averaging over sweeps: counting the (chain, factor) pairs of the recorded sweeps costs
        # less than adding a row of every feature per block when features far outnumber
        # factors (Potts); untracked sums have no rows to add, and are counted whatever the model
        self._count_averages = graph.n_features > self.block_size * max(graph.n_factors, 1)
        self._scaled = bool(np.any(graph.factor_form == 0))
        # untracked sums of a model of indexed factors alone are derived when read: its total
        # is counted in one row, and the per-block rows wait for a reader that needs them
        self._lazy_rows = self.sums == "recompute" and self._owned is not None and not self._scaled
        self._rows_stale = False
        self._total_row: np.ndarray | None = None
        # one chain's work in a sweep: each variable reads an entry per state and factor it is in
        self._sweep_work = float(np.dot(np.diff(graph.var_ptr), graph.n_states))
        self._thread_choice = ThreadChoice()
        self._sweep = 0
        self._mean: np.ndarray | None = None
        # sums over the averaged sweeps: a row per block, or one row of counts (see _Recorder)
        self._accumulated: np.ndarray | None = None
        self._batches: np.ndarray | None = None
        self._averaged = 1
        self._refresh()

    def _threads(self, n_threads: int | None) -> int:
        """The threads a run uses: those asked for (``n_threads``, else the sampler's), or fewer
        where the work between barriers does not pay for them (:func:`paying_threads`)."""
        requested = effective_n_threads(self.n_threads if n_threads is None else n_threads)
        return paying_threads(requested, self.n_chains, self.block_size, self._sweep_work, self.graph.n_colors)

    def _run_threads(self, n_threads: int | None) -> int:
        """The threads a run of the chains uses: :meth:`_threads`, or one where the runs have
        measured one thread to be faster (:class:`ThreadChoice`)."""
        return self._thread_choice.choose(self._threads(n_threads))

    def _refresh(self, n_threads: int | None = None) -> None:
        self._rows_stale = False
        if self._x.size == 0 or self.graph.n_factors == 0:  # no state to read (the kernels take &x[0])
            self._sums[:] = 0.0
            return
        _core.recompute_sums(
            self.graph._view, self._x, self._sums, self.n_chains, self.block_size, self._threads(n_threads), self._owned
        )

    def _total(self) -> np.ndarray:
        if self._rows_stale and self._x.size:  # whole counts: the rows' total to the bit
            self._total_row = _zeroed_rows(self._total_row, 1, self.graph.n_features)
            _core.add_recorded_sums(
                self.graph._view, self._x[None], self._total_row, self.n_chains, self.block_size, self._threads(None)
            )
            return self._total_row[0].copy()
        return self._block_rows().sum(axis=0)  # fixed block order: the same bits for any thread count

    def _block_rows(self) -> np.ndarray:
        """The running sums per block, derived from the states first where a run left them stale."""
        if self._rows_stale:
            self._refresh()
        return self._sums

    def _block_rows_copy(self) -> np.ndarray:
        """A copy of :meth:`_block_rows`; stale rows are derived straight into it, which spares
        a pass over rows that may be far larger than the states (16 vectors of θ's size)."""
        if not (self._rows_stale and self._x.size):
            return self._block_rows().copy()
        rows = np.zeros(self._sums.shape)  # calloc: the pages are zeroed once, as they are first written
        _core.recompute_sums(
            self.graph._view, self._x, rows, self.n_chains, self.block_size, self._threads(None), self._owned
        )
        return rows

    def _advance(self, n_sweeps: int, threads: int, kernel: Kernel) -> int:
        """Run ``kernel`` for ``n_sweeps`` sweeps, refreshing the sums on schedule and averaging
        the statistics over sweeps when asked (recording the batch means); returns the number
        of state changes."""
        began, changes = time.perf_counter(), 0
        # an interrupted run leaves no average behind: stats() then reads the running sums
        self._mean, self._batches, self._averaged = None, None, 1
        previous, self._accumulated = self._accumulated, None
        # summed per block, then over blocks in block order: the same bits however the chains
        # are split over processes (samplers.ShardedChains), as well as for any thread count
        averaging = self.average_sweeps and n_sweeps > 0
        batches = self._batch_buffer(n_sweeps) if averaging else None
        done = 0
        track = self.sums == "incremental"
        # record the sweeps' states and count them in batches when that is cheaper than a row of
        # every feature per block and sweep (always, for untracked sums); the per-sweep batch
        # means need those rows, and the counts need every feature to have one owning factor
        counted = averaging and batches is None and self._owned is not None and (not track or self._count_averages)
        # indexed factors' counts need one row; scaled factors keep a row per block
        rows = len(self._sums) if not counted or self._scaled else 1
        accumulated = _zeroed_rows(previous, rows, self.graph.n_features) if averaging else None
        recorder = _Recorder(self, accumulated, n_sweeps, threads) if counted and accumulated is not None else None
        if self._x.size == 0:  # no variables: a sweep changes nothing, and the kernels take &x[0]
            kernel = _no_sweep
        try:
            while done < n_sweeps:
                # stop at the next refresh point, or after one sweep when averaging over sweeps
                until_refresh = self.refresh_every - self._sweep % self.refresh_every if track else n_sweeps
                step = 1 if accumulated is not None else min(n_sweeps - done, until_refresh)
                # The counter moves before the kernel runs: an exception raised as the kernel
                # returns (Ctrl-C is delivered there) must not leave the counter behind the
                # states, or the next run would draw that sweep's random numbers again. An
                # exception before the kernel starts merely skips a sweep index.
                first = self._sweep
                self._sweep += step
                changes += kernel(first, step, threads)
                done += step
                # untracked sums are re-derived: after each averaged sweep, and at the end (or
                # when first read, where the rows can wait: _lazy_rows)
                stale = not track and ((accumulated is not None and not counted) or done == n_sweeps)
                if stale and done == n_sweeps and self._lazy_rows and (accumulated is None or counted):
                    stale, self._rows_stale = False, True
                if recorder is not None:
                    recorder.record()
                if stale or (track and self._sweep % self.refresh_every == 0):
                    self._refresh(threads)
                if accumulated is not None and not counted:
                    accumulated += self._sums
                if batches is not None:
                    batches[:, done - 1] = self._sums[: len(batches)] / self.block_size
        except BaseException:
            if not track:  # the kernel left the sums alone: bring them back in line with the states
                self._refresh(threads)
            raise
        if recorder is not None:
            recorder.count()
        self._accumulated = accumulated
        if accumulated is not None:  # one new array (for a large model, each costs a page fault per 4 KiB)
            mean = accumulated[0].copy() if len(accumulated) == 1 else accumulated.sum(axis=0)
            mean /= n_sweeps * self.n_chains
            self._mean = mean
        self._batches = batches
        self._averaged = n_sweeps if accumulated is not None else 1
        work = n_sweeps * self.n_chains * self._sweep_work
        self._thread_choice.record(threads, work, time.perf_counter() - began)
        return changes

    def _batch_buffer(self, n_sweeps: int) -> np.ndarray | None:
        """Room for the per-sweep means of every full block of chains, which let the training
        monitor measure the correlation between the averaged sweeps; None when they would take
        more than BATCH_BYTES (the monitor then falls back to a conservative error)."""
        n_full = self.n_chains // self.block_size  # equal-sized batches only
        if not batches_fit(n_full, n_sweeps, self.graph.n_features):
            return None
        return np.empty((n_full, n_sweeps, self.graph.n_features))

    def _check_run(self, theta: ArrayLike, n_sweeps: int) -> tuple[np.ndarray, int]:
        owner = f"{type(self).__name__}.run"
        return (check_theta(theta, self.graph.n_features, owner), check_int("n_sweeps", n_sweeps, owner, minimum=0))

    def stats(self) -> ChainStats:
        """Feature means over the chains, from the running sums (no pass over the states)."""
        if self._mean is None:
            return ChainStats(mean=self._total() / self.n_chains, n_chains=self.n_chains, sweep=self._sweep)
        return ChainStats(
            mean=self._mean,
            n_chains=self.n_chains,
            sweep=self._sweep,
            n_averaged=self._averaged,
            batch_means=self._batches,
            batch_size=self.block_size if self._batches is not None else None,
        )

    def block_stats(self, batches: bool = True) -> dict[str, Any]:
        """The raw per-block figures behind :meth:`stats`, for a sampler that adds the blocks of
        several shards in global block order (:class:`~samplers.ShardedChains`).

        Returns a dict of copies: ``block_sums`` (n_blocks, n_features), the running sums now;
        ``accumulated`` (the same shape, or one row when every factor is indexed and the run
        counted its sweeps, or None), their sum over the sweeps of the last run when averaging
        (the rows add up to the total in any grouping of the blocks); ``batches`` (the per-sweep
        means of the full blocks, or None; left out unless ``batches``); ``n_averaged``; ``sweep``.
        """
        copy = lambda a: None if a is None else a.copy()  # noqa: E731
        return {
            "block_sums": self._block_rows_copy(),
            "accumulated": copy(self._accumulated),
            "batches": copy(self._batches) if batches else None,
            "n_averaged": self._averaged,
            "sweep": self._sweep,
        }

    def _scope_joint(self, scope: ScopeLike, owner: str) -> tuple[np.ndarray, np.ndarray]:
        """The scope's ids and each chain's joint-state index on it, read straight from the
        chain-innermost states (no copy of the whole state array)."""
        ids, places = check_scope(self.graph, scope, owner)
        x = self._x.reshape(self.graph.n_variables, self.n_chains)
        joint = np.zeros(self.n_chains, dtype=np.int64)
        for v, place in zip(ids.tolist(), places.tolist()):
            joint += x[v].astype(np.int64) * place
        return ids, joint

    def marginal_counts(self, scope: ScopeLike) -> np.ndarray:
        """How many chains are in each joint state of ``scope`` now, one axis per scope variable."""
        ids, joint = self._scope_joint(scope, f"{type(self).__name__}.marginal_counts")
        shape = tuple(self.graph.n_states[ids].tolist())
        return np.bincount(joint, minlength=int(np.prod(shape))).reshape(shape)

    def weighted_sums(self, scope: ScopeLike, table: ArrayLike, n_threads: int | None = None) -> np.ndarray:
        """Σ_c table[x_S^c] f(x^c) over the chains' current states, shape (n_features,).

        One compiled pass over blocks of chains and their factors, each block summed in its own
        row and the rows added in block order: the same bits for any thread count.
        """
        return self.weighted_block_sums(scope, table, n_threads).sum(axis=0)

    def weighted_block_sums(self, scope: ScopeLike, table: ArrayLike, n_threads: int | None = None) -> np.ndarray:
        """:meth:`weighted_sums` before the blocks are added: one row per block of chains,
        shape (n_blocks, n_features); :class:`~samplers.ShardedChains` adds the rows of all
        shards in global block order."""
        owner = f"{type(self).__name__}.weighted_sums"
        ids, joint = self._scope_joint(scope, owner)
        weights = check_scope_table(self.graph, ids, table, owner)[joint]
        return _core.weighted_block_sums(
            self.graph._view, self._x, weights, self.n_chains, self.block_size, self._threads(n_threads)
        )

    @property
    def states(self) -> np.ndarray:
        """The chains' states, shape (n_chains, n_variables), a copy."""
        return self._x.reshape(self.graph.n_variables, self.n_chains).T.copy()

    @property
    def sweep(self) -> int:
        """Sweeps done so far."""
        return self._sweep

    def get_state(self) -> dict[str, Any]:
        """Chain states, sweep counter, generator key and running sums (all copies)."""
        return {
            "sampler": self.name,
            "states": self.states,
            "sweep": self._sweep,
            "key": self.key.copy(),
            "first_chain": self.first_chain,
            "block_sums": self._block_rows_copy(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`; continuing gives the uninterrupted run's bits."""
        owner = f"{type(self).__name__}.set_state"
        needed = {"sampler", "states", "sweep", "key", "first_chain", "block_sums"}
        if not isinstance(state, dict) or needed - set(state):
            raise DataError(
                f"{owner} needs a dict from {type(self).__name__}.get_state with keys {sorted(needed)}; "
                f"missing {sorted(needed - set(state)) if isinstance(state, dict) else 'all'}."
            )
        if state["sampler"] != self.name:
            raise DataError(f"{owner} got the state of a {state['sampler']!r} sampler, not of '{self.name}'.")
        states = check_states(state["states"], self.graph.n_states, owner, name="states")
        if states.shape[0] != self.n_chains:
            raise DataError(message("states", owner, f"{self.n_chains} chains", states.shape[0]))
        sums = np.asarray(state["block_sums"], dtype=np.float64)
        if sums.shape != self._sums.shape:
            raise DataError(message("block_sums", owner, f"shape {self._sums.shape}", f"shape {sums.shape}"))
        key = np.asarray(state["key"])
        if key.shape != (2,) or key.dtype.kind not in "ui" or (key < 0).any() or (key >= 2**32).any():
            raise ModelSpecError(message("key", owner, "two 32-bit unsigned words", key))
        key = key.astype(np.uint32)
        recomputed = self.graph.feature_sums(states) if self.n_chains else np.zeros(self.graph.n_features)
        scale = max(1.0, float(np.abs(recomputed).max(initial=0.0)))
        if not np.all(np.isfinite(sums)) or np.abs(sums.sum(axis=0) - recomputed).max(initial=0.0) > 1e-9 * scale:
            raise DataError(f"{owner}: the running sums do not match the chain states; the state is damaged.")
        self._x = np.ascontiguousarray(states.T).ravel()
        self._sweep = check_int("sweep", state["sweep"], owner)
        self.key = key.copy()
        self.first_chain = check_int("first_chain", state["first_chain"], owner)
        self._sums = sums.copy()
        self._rows_stale = False
        self._mean = None
        self._accumulated = None
        self._batches = None
        self._averaged = 1
