"""Polyak averaging of the iterates, with a standard error from batch means, and the state
helpers the optimizers share (:mod:`factorgraph.optim` offers both)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from factorgraph._errors import ModelSpecError, NumericalError
from factorgraph._validation import as_finite_array, check_int, message

State = dict[str, "np.ndarray | int | float"]


def float_array(name: str, value: object, owner: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelSpecError(message(name, owner, "an array of real numbers", value)) from exc


def read_state(state: object, owner: str, names: tuple[str, ...]) -> tuple[int, dict[str, np.ndarray]]:
    """Validate a ``get_state`` dict: its step count ``t`` and copies of its arrays (all or none)."""
    if not isinstance(state, Mapping) or "t" not in state or not set(state) <= {"t", *names}:
        keys = sorted(state) if isinstance(state, Mapping) else state
        raise ModelSpecError(
            message(
                "state",
                owner,
                f"a dict with key 't' and optionally {list(names)}",
                keys,
                "Pass a dict returned by get_state().",
            )
        )
    t = state["t"]
    t = check_int("state['t']", t.item() if isinstance(t, np.ndarray) and t.ndim == 0 else t, owner, minimum=0)
    arrays = {
        k: np.array(as_finite_array(f"state[{k!r}]", state[k], owner, error=ModelSpecError))
        for k in names
        if k in state
    }
    shapes = {a.shape for a in arrays.values()}
    if arrays and (len(arrays) != len(names) or len(shapes) != 1):
        raise ModelSpecError(message("state", owner, f"all of {list(names)} with one shape, or none", sorted(shapes)))
    return t, arrays


class PolyakAverage:
    """Running mean of the iterates passed to :meth:`update`, from the ``start``-th on (0-based).

    Parameters
    ----------
    start : int, default 0
        Number of first iterates to leave out (burn-in).
    weighting : {"uniform", "linear"}, default "uniform"
        "uniform": the plain mean. "linear": the n-th averaged iterate weighs n, so the early,
        noisier iterates of a decaying step fade out (polynomial-decay averaging).

    Attributes
    ----------
    stderr : ndarray or None
        A standard error of :attr:`mean`, from batch means of the averaged iterates: their
        spread divided by the square root of the number of batches (at least 8 equal batches;
        the early, noisier ones make it conservative). None with fewer than 8 batches' worth
        of iterates, or when 16 copies of θ would take more than SPREAD_BYTES.

    Examples
    --------
    >>> avg = PolyakAverage(start=1)
    >>> for theta in ([9.0], [1.0], [2.0]):
    ...     avg.update(np.array(theta))
    >>> avg.mean, avg.count
    (array([1.5]), 2)
    >>> linear = PolyakAverage(weighting="linear")
    >>> for theta in ([1.0], [2.0], [4.0]):
    ...     linear.update(np.array(theta))
    >>> linear.mean  # (1·1 + 2·2 + 3·4) / 6
    array([2.83333333])
    """

    SPREAD_BYTES = 128 * 2**20
    _SLOTS = 16  # batch slots for the standard error; full, they merge pairwise into 8

    def __init__(self, start: int = 0, weighting: str = "uniform") -> None:
        self.start = check_int("start", start, "optim.PolyakAverage", minimum=0)
        if weighting not in ("uniform", "linear"):
            raise ModelSpecError(message("weighting", "optim.PolyakAverage", "'uniform' or 'linear'", weighting))
        self.weighting = weighting
        self._t = 0
        self._mean: np.ndarray | None = None
        self._batches: np.ndarray | None = None
        self._batch_size, self._filled = 1, 0
        self.reset()

    @property
    def t(self) -> int:
        """The number of iterates seen."""
        return self._t

    @property
    def count(self) -> int:
        """The number of iterates averaged."""
        return max(0, self._t - self.start)

    @property
    def mean(self) -> np.ndarray | None:
        """A copy of the average, or None while no iterate has been averaged."""
        return None if self._mean is None else self._mean.copy()

    @property
    def mean_view(self) -> np.ndarray | None:
        """The average itself, not a copy: read only (what the trainer watches every step)."""
        return self._mean

    @property
    def stderr(self) -> np.ndarray | None:
        """A standard error of the average from batch means of the iterates; None until enough are averaged."""
        batches = self._batches
        full = self._filled // self._batch_size if batches is not None else 0
        if batches is None or full < self._SLOTS // 2:
            return None
        means = batches[:full] / self._batch_size
        return np.sqrt(means.var(axis=0, ddof=1) / full)

    def update(self, theta: np.ndarray) -> None:
        """Add one iterate (after each optimizer step); it must be finite."""
        owner = "optim.PolyakAverage.update"
        theta = as_finite_array("theta", float_array("theta", theta, owner), owner, error=NumericalError)
        if self._mean is not None and theta.shape != self._mean.shape:
            raise ModelSpecError(message("theta", owner, f"of shape {self._mean.shape}", f"shape {theta.shape}"))
        if self._t >= self.start:
            if self._mean is None:
                self._mean = theta.copy()
                if self._SLOTS * theta.nbytes <= self.SPREAD_BYTES:
                    self._batches = np.zeros((self._SLOTS,) + theta.shape)
            else:
                step = theta - self._mean
                n = self.count + 1  # this iterate's place among the averaged ones
                step *= 2.0 / (n + 1) if self.weighting == "linear" else 1.0 / n
                self._mean += step
            if self._batches is not None:
                self._add_to_batch(theta)
        self._t += 1

    def _add_to_batch(self, theta: np.ndarray) -> None:
        batches = self._batches
        assert batches is not None, "called only while batches are kept"
        if self._filled == self._SLOTS * self._batch_size:  # full: merge pairs, batches twice as long
            merged = batches[0::2] + batches[1::2]
            batches[: self._SLOTS // 2] = merged
            batches[self._SLOTS // 2 :] = 0.0
            self._batch_size *= 2
        batches[self._filled // self._batch_size] += theta
        self._filled += 1

    def get_state(self) -> State:
        """Return copies of ``t`` (iterates seen), ``mean`` (absent while none is averaged) and the
        batch sums behind :attr:`stderr`."""
        if self._mean is None:
            return {"t": self._t}
        state: State = {"t": self._t, "mean": self._mean.copy()}
        if self._batches is not None:
            state.update(batches=self._batches.copy(), batch_size=self._batch_size, filled=self._filled)
        return state

    def set_state(self, state: Mapping[str, np.ndarray | int | float]) -> None:
        """Restore a state from :meth:`get_state` (the arrays are copied)."""
        owner = "optim.PolyakAverage.set_state"
        spread = {}
        if isinstance(state, Mapping):
            spread = {k: state[k] for k in ("batches", "batch_size", "filled") if k in state}
            state = {k: v for k, v in state.items() if k not in spread}
        t, arrays = read_state(state, owner, ("mean",))
        if (t > self.start) != ("mean" in arrays):
            raise ModelSpecError(
                message(
                    "state",
                    owner,
                    f"a 'mean' exactly when t > start={self.start}",
                    f"t={t} and {'a' if arrays else 'no'} mean",
                )
            )
        self._t, self._mean = t, arrays.get("mean")
        batches = spread.get("batches")
        self._batches = (
            None
            if batches is None
            else np.array(as_finite_array("state['batches']", batches, owner, error=ModelSpecError))
        )
        self._batch_size, self._filled = int(spread.get("batch_size", 1)), int(spread.get("filled", 0))

    def reset(self) -> None:
        """Forget all iterates."""
        self._t, self._mean = 0, None
        self._batches = None
        self._batch_size, self._filled = 1, 0

    def __repr__(self) -> str:
        weighting = "" if self.weighting == "uniform" else f", weighting={self.weighting!r}"
        return f"PolyakAverage(start={self.start}{weighting})"
