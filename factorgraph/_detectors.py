"""The detectors a fit keeps step by step: θ stability across windows, plateaus of the residual,
divergence, and chains stuck in their states."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from samplers import SweepInfo

__all__ = ["StabilityWindow", "Plateau", "Divergence", "StuckChains"]


class StabilityWindow:
    """θ's mean over consecutive windows of ``size`` steps, in O(K) memory.

    :meth:`add` returns, at the end of each window, the largest absolute change of the mean
    against the window before (infinity after the first window), and None otherwise.
    """

    def __init__(self, size: int, n_features: int) -> None:
        self.size = size
        self._sum = np.zeros(n_features)
        self._count = 0
        self._previous: np.ndarray | None = None

    def add(self, theta: np.ndarray) -> float | None:
        self._sum += theta
        self._count += 1
        if self._count < self.size:
            return None
        mean = self._sum / self.size
        self._sum[:] = 0.0
        self._count = 0
        drift = np.inf if self._previous is None else float(np.abs(mean - self._previous).max(initial=0.0))
        self._previous = mean
        return drift

    def get_state(self) -> dict[str, Any]:
        """Copies of the window's progress, for checkpoints."""
        state: dict[str, Any] = {"size": self.size, "count": self._count, "sum": self._sum.copy()}
        if self._previous is not None:
            state["previous"] = self._previous.copy()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` (arrays are copied)."""
        self.size, self._count = int(state["size"]), int(state["count"])
        self._sum = np.array(state["sum"], dtype=np.float64)
        previous = state.get("previous")
        self._previous = None if previous is None else np.array(previous, dtype=np.float64)


class Plateau:
    """Detects a plateau: a figure that has not fallen 1% below its best for ``patience`` updates."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self._best = np.inf
        self._since = 0

    def update(self, value: float) -> bool:
        """Record ``value``; True when a plateau is reached (the count then starts again)."""
        self._since += 1
        if value < 0.99 * self._best:
            self._best, self._since = value, 0
        elif self._since >= self.patience:
            self._best, self._since = value, 0
            return True
        return False

    def get_state(self) -> dict[str, Any]:
        """The detector's progress, for checkpoints."""
        return {"patience": self.patience, "best": float(self._best), "since": self._since}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""
        self.patience, self._best, self._since = int(state["patience"]), float(state["best"]), int(state["since"])


class Divergence:
    """Signs that the learning rate is too large, read after each step and at each check.

    After a step: θ not finite; one step moving a feature's log-odds (``|Δθ_k|`` times its
    range) by more than ``max_step``; or that step norm growing by more than ``step_growth``
    at each of ``patience`` consecutive steps (ending above 1). At a check: the RMS of the
    objective's gradient rising by more than ``growth`` at each of ``patience`` consecutive
    checks while the standardised residual is far above the noise (above ``noise_floor``).
    Each method returns a description of the sign, or None.
    """

    def __init__(
        self,
        spread: np.ndarray,
        trainable: np.ndarray,
        max_step: float,
        patience: int = 5,
        growth: float = 1.2,
        step_growth: float = 1.5,
        noise_floor: float = 10.0,
    ) -> None:
        self.spread, self.trainable, self.max_step = spread, trainable, max_step
        self._frozen = np.flatnonzero(~trainable)
        self.patience, self.growth, self.step_growth, self.noise_floor = patience, growth, step_growth, noise_floor
        self._steps: list[float] = []
        self._grads: list[float] = []

    def after_step(self, old: np.ndarray, new: np.ndarray) -> tuple[str, np.ndarray] | None:
        """``(reason, feature ids)`` when the step from ``old`` to ``new`` diverges."""
        with np.errstate(over="ignore", invalid="ignore"):  # a step that is not finite is reported
            moved = np.subtract(new, old)  # in place from here: each pass over θ-sized vectors counts
            np.abs(moved, out=moved)
            moved *= self.spread
        moved[self._frozen] = 0.0
        largest = moved.max(initial=0.0)  # NaN where any step is not finite
        if not math.isfinite(largest):
            bad = self.trainable & ~np.isfinite(new)
            if bad.any():
                ids = np.flatnonzero(bad)
                return f"θ became non-finite at features {ids[:5].tolist()}", ids
        if largest > self.max_step:
            jump = moved > self.max_step
            ids = np.flatnonzero(jump)
            return (
                f"one step changed the log-odds of a feature by up to {largest:.3g} (|Δθ| times the "
                f"feature's range; more than {self.max_step:g})"
            ), ids
        self._steps = (self._steps + [float(largest)])[-(self.patience + 1) :]
        if (
            len(self._steps) > self.patience
            and self._steps[-1] > 1.0
            and all(b > self.step_growth * a for a, b in zip(self._steps, self._steps[1:]))
        ):
            start, end = self._steps[0], self._steps[-1]
            self._steps = []
            return (
                f"the step size grew geometrically over {self.patience} steps, from {start:.3g} to "
                f"{end:.3g} (log-odds per step)"
            ), np.flatnonzero(moved >= 0.5 * end)
        return None

    def at_check(self, grad: np.ndarray, residual: float) -> tuple[str | None, bool]:
        """``(reason or None, good)``: ``good`` when the gradient is not in a rising streak, so the
        state may be kept as the last good one."""
        rms = float(np.sqrt(np.mean(np.square(grad[self.trainable])))) if self.trainable.any() else 0.0
        rising = bool(self._grads) and rms > self.growth * self._grads[-1]
        self._grads = (self._grads + [rms])[-(self.patience + 1) :] if rising or not self._grads else [rms]
        noisy = residual == residual and residual <= self.noise_floor
        if len(self._grads) > self.patience and not noisy:
            start = self._grads[0]
            self._grads = [rms]
            return (
                f"the gradient's RMS rose by more than {100 * (self.growth - 1):.0f}% at each of "
                f"{self.patience} consecutive checks, from {start:.3g} to {rms:.3g}"
            ), False
        return None, not rising


class StuckChains:
    """Chains that barely move: over each window of ``window`` steps, the fraction of updates
    that changed a state (:attr:`samplers.SweepInfo.change_rate`) below ``threshold`` while the
    chains sit in different states (chains that all agree follow a concentrated distribution).

    :meth:`update` returns a message naming the sampler, the rate and the variables that no
    chain changed during the window, once per fit; None otherwise.
    """

    def __init__(self, sampler_name: str, n_states: np.ndarray, window: int = 50, threshold: float = 1e-3) -> None:
        self.name, self.n_states, self.window, self.threshold = sampler_name, n_states, window, threshold
        self._changes = self._updates = self._steps = 0
        self._start: np.ndarray | None = None
        self._warned = not (n_states > 1).any()  # nothing can move: not stuck, constant

    def update(self, info: SweepInfo, states: Callable[[], np.ndarray]) -> str | None:
        if self._warned or not getattr(info, "n_updates", 0):
            return None
        if self._start is None:
            self._start = states()
        self._changes += int(info.n_changes)
        self._updates += int(info.n_updates)
        self._steps += 1
        if self._steps < self.window:
            return None
        rate, changes, updates = self._changes / self._updates, self._changes, self._updates
        now = states()
        never = np.flatnonzero(np.all(now == self._start, axis=0) & (self.n_states > 1))
        self._changes = self._updates = self._steps = 0
        self._start = now
        # chains that all sit in one state follow a distribution concentrated there (θ large):
        # stuck means chains held in different states they cannot leave
        if rate >= self.threshold or not np.any(now != now[:1]):
            return None
        self._warned = True
        listed = (
            f"{never[:8].tolist()}{' ...' if len(never) > 8 else ''} ({len(never)} in all)" if len(never) else "none"
        )
        return (
            f"The '{self.name}' sampler changed a state in {100 * rate:.3g}% of its updates ({changes} of "
            f"{updates}) over the last {self.window} steps, below {100 * self.threshold:g}%: the chains are "
            f"stuck in different states they cannot leave, and their statistics no longer follow θ. "
            f"Variables no chain changed: {listed}. Try "
            "another sampler (sampler='swendsen-wang' for ±1 pair couplings, or 'block-gibbs' with the "
            "strongly coupled variables in one block), or weaker couplings (objectives.L2)."
        )
