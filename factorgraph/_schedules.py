"""Learning-rate schedules: numbers of the step t that :mod:`factorgraph.optim`'s optimizers follow.

Each schedule is a small frozen dataclass that describes itself (:meth:`Schedule.config`), so a
checkpoint can rebuild it; a plain number is a constant rate.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from factorgraph._errors import ModelSpecError
from factorgraph._validation import check_int, message

State = dict[str, "np.ndarray | int | float"]


def real_number(name: str, value: object, owner: str, expected: str, ok: Callable[[float], bool]) -> float:
    """Return ``value`` as a float, or raise ModelSpecError unless it is a finite real passing ``ok``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not ok(float(value))
    ):
        raise ModelSpecError(message(name, owner, expected, value))
    return float(value)


POSITIVE = ("a finite number > 0", lambda x: x > 0)
UNIT = ("a number in [0, 1)", lambda x: 0 <= x < 1)


class Schedule(abc.ABC):
    """Base of the learning-rate schedules: ``schedule(t)`` is the rate at step ``t = 0, 1, ...``.

    Examples
    --------
    >>> isinstance(constant(0.1), Schedule)
    True
    """

    _checks: dict = {}  # field name -> (expected, test); not a dataclass field (no annotation)

    def __post_init__(self) -> None:
        for name, (expected, ok) in self._checks.items():
            value = real_number(name, getattr(self, name), f"optim.{type(self).__name__}", expected, ok)
            object.__setattr__(self, name, value)

    def __call__(self, t: int) -> float:
        """The learning rate at step ``t``."""
        return float(self._at(check_int("t", t, f"optim.{type(self).__name__}", minimum=0)))

    @abc.abstractmethod
    def _at(self, t: int) -> float:
        """The rate at step ``t`` (already validated)."""

    def config(self) -> dict[str, Any]:
        """A JSON-ready description of the schedule, from which :meth:`from_config` rebuilds it.

        Used by checkpoints. Only the schedules of this module can be described; a plain
        callable used as a rate cannot.

        Examples
        --------
        >>> warmup(inverse_time(0.1, 10), steps=5).config()  # doctest: +NORMALIZE_WHITESPACE
        {'schedule': 'warmup',
         'after': {'schedule': 'inverse_time', 'lr': 0.1, 'decay_steps': 10.0, 'power': 1.0}, 'steps': 5}
        """
        return schedule_config(self)

    @staticmethod
    def from_config(config: object) -> Schedule:
        """Rebuild a schedule from :meth:`config`.

        Examples
        --------
        >>> Schedule.from_config(cosine(0.1, 100).config()) == cosine(0.1, 100)
        True
        """
        if not isinstance(config, Mapping) or config.get("schedule") not in _SCHEDULES:
            raise ModelSpecError(
                message(
                    "config",
                    "optim.Schedule.from_config",
                    f"a dict with 'schedule' one of {sorted(_SCHEDULES)}",
                    config,
                )
            )
        params = {k: v for k, v in config.items() if k != "schedule"}
        if config["schedule"] == "warmup":
            params["schedule"] = Schedule.from_config(params.pop("after", None))
        return _SCHEDULES[config["schedule"]](**params)


def as_schedule(value: object, name: str, owner: str) -> Callable[[int], float]:
    """A number becomes a constant schedule; any other callable is used as given."""
    if callable(value):
        return value
    return constant(real_number(name, value, owner, "a finite number > 0 or a schedule", lambda x: x > 0))


@dataclass(frozen=True)
class constant(Schedule):
    """The same rate at every step.

    Parameters
    ----------
    lr : float
        The rate, > 0.

    Examples
    --------
    >>> constant(0.1)(7)
    0.1
    """

    lr: float
    _checks = {"lr": POSITIVE}

    def _at(self, t: int) -> float:
        return self.lr


@dataclass(frozen=True)
class inverse_time(Schedule):
    """Inverse-time decay, ``lr / (1 + t / decay_steps) ** power``.

    With ``power`` in (0.5, 1] the rates meet the Robbins-Monro conditions.

    Parameters
    ----------
    lr, decay_steps : float
        The rate at step 0 and the time scale of the decay, both > 0.
    power : float, default 1.0
        The exponent, >= 0.

    Examples
    --------
    >>> inverse_time(0.1, decay_steps=10)(10)
    0.05
    """

    lr: float
    decay_steps: float
    power: float = 1.0
    _checks = {"lr": POSITIVE, "decay_steps": POSITIVE, "power": ("a finite number >= 0", lambda x: x >= 0)}

    def _at(self, t: int) -> float:
        return self.lr / (1.0 + t / self.decay_steps) ** self.power


@dataclass(frozen=True)
class exponential(Schedule):
    """Exponential decay, ``lr * rate ** (t / decay_steps)``.

    Parameters
    ----------
    lr : float
        The rate at step 0, > 0.
    rate, decay_steps : float
        The factor, in (0, 1], applied every ``decay_steps`` (> 0) steps.

    Examples
    --------
    >>> exponential(0.1, rate=0.5, decay_steps=10)(20)
    0.025
    """

    lr: float
    rate: float
    decay_steps: float
    _checks = {"lr": POSITIVE, "rate": ("a number in (0, 1]", lambda x: 0 < x <= 1), "decay_steps": POSITIVE}

    def _at(self, t: int) -> float:
        return self.lr * self.rate ** (t / self.decay_steps)


@dataclass(frozen=True)
class cosine(Schedule):
    """Cosine annealing from ``lr`` down to ``final`` over ``total_steps`` steps, then ``final``.

    The rate is ``final + (lr - final) * (1 + cos(pi * min(t, total_steps) / total_steps)) / 2``.

    Parameters
    ----------
    lr : float
        The rate at step 0, > 0.
    total_steps : int
        The length of the annealing, >= 1.
    final : float, default 0.0
        The rate from step ``total_steps`` on, in [0, lr].

    Examples
    --------
    >>> s = cosine(0.1, total_steps=100)
    >>> s(0), s(50), s(100), s(1000)
    (0.1, 0.05, 0.0, 0.0)
    """

    lr: float
    total_steps: int
    final: float = 0.0
    _checks = {"lr": POSITIVE}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "total_steps", check_int("total_steps", self.total_steps, "optim.cosine", minimum=1))
        final = real_number(
            "final", self.final, "optim.cosine", f"a number in [0, lr={self.lr}]", lambda x: 0 <= x <= self.lr
        )
        object.__setattr__(self, "final", final)

    def _at(self, t: int) -> float:
        fraction = min(t, self.total_steps) / self.total_steps
        return self.final + (self.lr - self.final) * (1.0 + math.cos(math.pi * fraction)) / 2.0


@dataclass(frozen=True)
class warmup(Schedule):
    """A linear ramp from 0 over ``steps`` steps, then ``schedule`` started afresh.

    The rate is ``schedule(0) * (t / steps)`` for ``t < steps`` and ``schedule(t - steps)`` after.

    Parameters
    ----------
    schedule : callable or float
        The schedule that follows the ramp; a number means a constant rate.
    steps : int
        The length of the ramp, >= 0.

    Examples
    --------
    >>> s = warmup(constant(1.0), steps=4)
    >>> [s(t) for t in range(6)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    schedule: Callable[[int], float]
    steps: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", as_schedule(self.schedule, "schedule", "optim.warmup"))
        object.__setattr__(self, "steps", check_int("steps", self.steps, "optim.warmup", minimum=0))

    def _at(self, t: int) -> float:
        if t < self.steps:
            return self.schedule(0) * (t / self.steps)
        return self.schedule(t - self.steps)


_SCHEDULES: dict[str, type] = {cls.__name__: cls for cls in (constant, inverse_time, exponential, cosine, warmup)}


def schedule_config(schedule: object) -> dict[str, Any]:
    """The description of one of this module's schedules; anything else cannot be described."""
    if type(schedule) not in _SCHEDULES.values():
        raise ModelSpecError(
            f"The learning-rate schedule {schedule!r} cannot be described for a checkpoint: only "
            f"factorgraph.optim's {', '.join(sorted(_SCHEDULES))} (or a plain number) can. Use one of them."
        )
    out: dict[str, Any] = {"schedule": type(schedule).__name__}
    for f in fields(schedule):  # type: ignore[arg-type]  # one of the dataclasses above
        value = getattr(schedule, f.name)
        if f.name == "schedule":
            out["after"] = schedule_config(value)
        else:
            out[f.name] = value
    return out
