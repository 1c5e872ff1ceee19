"""Are the persistent chains at equilibrium at the current θ? Measured, and given more sweeps if not.

Persistent chains that advance a few sweeps per step follow θ with a lag: if they need many steps
to forget their states, the statistics of a step describe an older θ and the fit learns a
trajectory instead of a model. The check compares each chain with its own state some sweeps ago
(the self-overlap: the fraction of variables in the same state) and with another, independent
chain now (the cross-overlap). At equilibrium and after enough sweeps the two agree; while the
self-overlap is significantly larger, the chains still remember where they were.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["Relaxation"]


class Relaxation:
    """Watches how many sweeps the chains need to forget their states, and raises the sweeps
    per step when they do not within ``horizon`` steps.

    Parameters
    ----------
    sweeps : int
        Sweeps per step to start with.
    adapt : bool
        Raise the sweeps (doubling) when the chains lag; otherwise only measure.
    max_sweeps : int
        The most sweeps per step ``adapt`` may reach.
    horizon : int
        Steps within which the chains must forget their states.

    Attributes
    ----------
    sweeps : int
        Sweeps per step now.
    tau : float
        The sweeps within which the chains last forgot their states (an upper bound, at the
        resolution of the checks); NaN before the first such observation.
    relaxed : bool
        True once the chains forgot their states within the horizon at the current sweeps per
        step; False again while they lag.
    """

    Z = 2.0  # overlaps this many standard errors apart still count as equal

    def __init__(self, sweeps: int, adapt: bool, max_sweeps: int, horizon: int) -> None:
        self.sweeps, self.adapt, self.max_sweeps, self.horizon = sweeps, adapt, max(max_sweeps, sweeps), horizon
        self.tau = math.nan
        self.relaxed = False
        self._reference: np.ndarray | None = None
        self._sweeps_since = 0
        self._steps_since = 0

    def after_step(self, states: Callable[[], np.ndarray], check: bool) -> None:
        """Count one step's sweeps; at a ``check`` compare the chains with their reference
        states (``states()`` gives the current ones) and decide."""
        self._sweeps_since += self.sweeps
        self._steps_since += 1
        if not check and self._reference is not None:
            return
        now = states()
        if self._reference is None or self._reference.shape != now.shape:
            self._restart(now)
            return
        if self.forgotten(self._reference, now):
            self.tau, self.relaxed = float(self._sweeps_since), True
            self._restart(now)
        elif self._steps_since >= self.horizon:
            self.relaxed = False
            if self.adapt and self.sweeps < self.max_sweeps:
                self.sweeps = min(2 * self.sweeps, self.max_sweeps)
            self._restart(now)

    def _restart(self, now: np.ndarray) -> None:
        self._reference, self._sweeps_since, self._steps_since = now.copy(), 0, 0

    @classmethod
    def forgotten(cls, before: np.ndarray, now: np.ndarray) -> bool:
        """Whether the chains' overlap with their earlier states (rows of ``before``) is no
        larger than their overlap with other chains now, within :attr:`Z` standard errors."""
        n_chains = len(now)
        if n_chains < 2 or now.shape[1] == 0:
            return True
        own = np.mean(now == before, axis=1)
        other = np.mean(now == np.roll(now, 1, axis=0), axis=1)  # chain c against chain c - 1
        excess = own - other
        se = excess.std(ddof=1) / math.sqrt(n_chains)
        return bool(excess.mean() <= cls.Z * se + 1e-12)

    def get_state(self) -> dict[str, Any]:
        return {
            "sweeps": self.sweeps,
            "tau": None if math.isnan(self.tau) else self.tau,
            "relaxed": self.relaxed,
            "reference": None if self._reference is None else self._reference.copy(),
            "sweeps_since": self._sweeps_since,
            "steps_since": self._steps_since,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.sweeps = int(state["sweeps"])
        self.tau = math.nan if state["tau"] is None else float(state["tau"])
        self.relaxed = bool(state["relaxed"])
        reference = state["reference"]
        self._reference = None if reference is None else np.array(reference, dtype=np.int32)
        self._sweeps_since, self._steps_since = int(state["sweeps_since"]), int(state["steps_since"])
