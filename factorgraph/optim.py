"""Stochastic gradient ascent: learning-rate schedules, optimizers and iterate averaging.

Each training step calls ``theta = optimizer.step(theta, grad)`` with ``grad`` an estimate of the
gradient of the concave objective (the ascent direction). A step returns a new array and updates
the optimizer's buffers in place: a few vectorised passes over the parameters.

Examples
--------
>>> import numpy as np
>>> opt, theta = SGD(lr=inverse_time(0.5, decay_steps=10)), np.zeros(2)
>>> for _ in range(200):  # maximise -|theta - (1, 2)|^2 / 2
...     theta = opt.step(theta, np.array([1.0, 2.0]) - theta)
>>> theta.round(6), opt.t
(array([1., 2.]), 200)
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._averaging import PolyakAverage, State, float_array, read_state
from factorgraph._errors import ModelSpecError, NumericalError
from factorgraph._landing import Landing
from factorgraph._schedules import (
    POSITIVE,
    UNIT,
    Schedule,
    as_schedule,
    constant,
    cosine,
    exponential,
    inverse_time,
    real_number,
    schedule_config,
    warmup,
)
from factorgraph._validation import as_finite_array, message

if TYPE_CHECKING:
    from factorgraph.compiled import CompiledGraph

__all__ = [
    "Schedule",
    "constant",
    "inverse_time",
    "exponential",
    "cosine",
    "warmup",
    "Optimizer",
    "SGD",
    "Adam",
    "GroupAdam",
    "PolyakAverage",
    "Landing",
    "default_optimizer",
]


class Optimizer(abc.ABC):
    """Base of the gradient-ascent optimizers.

    Parameters
    ----------
    lr : float or callable
        A constant learning rate (> 0), or a schedule ``lr(t) -> float`` such as :class:`cosine`.

    Attributes
    ----------
    lr_scale : float
        A factor (> 0, default 1) on the schedule's rate; the trainer lowers it when the fit
        reaches a plateau (``Trainer.fit(decay_on_plateau=...)``). Saved by :meth:`get_state`.

    Examples
    --------
    >>> opt = SGD(lr=warmup(0.1, steps=10))
    >>> opt.t, opt.lr
    (0, 0.0)
    """

    _params: tuple[str, ...] = ()
    _buffer_names: tuple[str, ...] = ()

    def __init__(self, lr: float | Callable[[int], float]) -> None:
        self.schedule = as_schedule(lr, "lr", self._owner)
        self._t = 0
        self._buffers: dict[str, np.ndarray] = {}
        self._step_size: float | np.ndarray = 0.0
        self.lr_scale = 1.0
        self.reset()

    @property
    def _owner(self) -> str:
        return f"optim.{type(self).__name__}"

    @property
    def t(self) -> int:
        """The number of steps taken."""
        return self._t

    @property
    def step_size(self) -> float | np.ndarray:
        """How far the last step moved θ per unit of gradient: a number or one per coordinate.

        A proximal step after the update thresholds by this times the penalty's strength:
        ``lr`` for SGD (with or without momentum), and Adam's per-coordinate
        ``lr / (sqrt(v_hat) + eps)``, the scale it applies to the bias-corrected mean gradient
        ``m_hat`` (a proximal step in Adam's diagonal metric).
        0 before the first step.
        """
        return self._step_size

    @property
    def lr(self) -> float:
        """The learning rate of the next step, ``schedule(t) * lr_scale``."""
        value = self.schedule(self._t)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value >= 0):
            raise ModelSpecError(
                f"The 'lr' schedule of {self._owner} must return finite numbers >= 0; got {value!r} at step {self._t}."
            )
        return float(value) * self.lr_scale

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Return the parameters after one ascent step along ``grad``; ``theta`` is not modified."""
        owner = f"{self._owner}.step"
        theta, grad = float_array("theta", theta, owner), float_array("grad", grad, owner)
        if grad.shape != theta.shape:
            raise ModelSpecError(message("grad", owner, f"of the shape of theta, {theta.shape}", f"shape {grad.shape}"))
        as_finite_array("grad", grad, owner, error=NumericalError)
        if not self._buffers:
            self._buffers = {name: np.zeros(theta.shape) for name in self._buffer_names}
        elif next(iter(self._buffers.values())).shape != theta.shape:
            raise ModelSpecError(
                message(
                    "theta",
                    owner,
                    "of the shape of the previous steps",
                    f"shape {theta.shape}",
                    "Call reset() to optimise another vector.",
                )
            )
        lr = self.lr
        new = self._update(theta, grad, lr)
        self._t += 1
        return new

    @abc.abstractmethod
    def _update(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
        """Update the buffers in place and return the new parameters."""

    def get_state(self) -> State:
        """Return copies of the step count ``t``, the buffers and ``lr_scale`` (when not 1), for
        checkpoints."""
        scale = {"lr_scale": self.lr_scale} if self.lr_scale != 1.0 else {}
        return {"t": self._t, **scale, **{name: array.copy() for name, array in self._buffers.items()}}

    def set_state(self, state: Mapping[str, np.ndarray | int | float]) -> None:
        """Restore a state from :meth:`get_state` (arrays are copied)."""
        owner = f"{self._owner}.set_state"
        scale = state.get("lr_scale", 1.0) if isinstance(state, Mapping) else 1.0
        scale = float(scale) if isinstance(scale, numbers.Real | np.ndarray) and np.ndim(scale) == 0 else scale
        if not (isinstance(scale, float) and math.isfinite(scale) and scale > 0):
            raise ModelSpecError(message("state['lr_scale']", owner, "a finite number > 0", scale))
        rest = {k: v for k, v in state.items() if k != "lr_scale"} if isinstance(state, Mapping) else state
        self._t, self._buffers = read_state(rest, owner, self._buffer_names)
        self.lr_scale = scale

    def reset(self) -> None:
        """Forget all steps: ``t = 0``, no buffers and ``lr_scale = 1``."""
        self._t, self._buffers, self._step_size, self.lr_scale = 0, {}, 0.0, 1.0

    def config(self) -> dict[str, Any]:
        """A JSON-ready description of the settings (not the state), for checkpoints.

        :meth:`from_config` rebuilds an optimizer with these settings; :meth:`get_state` and
        :meth:`set_state` carry its progress. Only this module's optimizers and schedules can
        be described.

        Examples
        --------
        >>> Adam(lr=0.05).config()
        {'optimizer': 'Adam', 'lr': {'schedule': 'constant', 'lr': 0.05}, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-08}
        """
        if type(self) not in _OPTIMIZERS.values():
            raise ModelSpecError(
                f"The optimizer {self!r} cannot be described for a checkpoint: only "
                f"factorgraph.optim's {', '.join(sorted(_OPTIMIZERS))} can."
            )
        return {
            "optimizer": type(self).__name__,
            "lr": schedule_config(self.schedule),
            **{name: getattr(self, name) for name in self._params},
        }

    @staticmethod
    def from_config(config: Mapping[str, Any]) -> Optimizer:
        """Rebuild an optimizer (without its state) from :meth:`config`.

        Examples
        --------
        >>> Optimizer.from_config(SGD(lr=0.1, momentum=0.5).config())
        SGD(lr=constant(lr=0.1), momentum=0.5, nesterov=False)
        """
        if not isinstance(config, Mapping) or config.get("optimizer") not in _OPTIMIZERS:
            raise ModelSpecError(
                message(
                    "config",
                    "optim.Optimizer.from_config",
                    f"a dict with 'optimizer' one of {sorted(_OPTIMIZERS)}",
                    config,
                )
            )
        params = {k: v for k, v in config.items() if k != "optimizer"}
        params["lr"] = Schedule.from_config(params.get("lr"))
        return _OPTIMIZERS[config["optimizer"]](**params)

    def __repr__(self) -> str:
        params = "".join(f", {name}={getattr(self, name)!r}" for name in self._params)
        return f"{type(self).__name__}(lr={self.schedule!r}{params})"


class SGD(Optimizer):
    """Stochastic gradient ascent with optional (Nesterov) momentum.

    ``v <- momentum * v + grad``, then ``theta + lr * v``, or with ``nesterov``
    ``theta + lr * (grad + momentum * v)``. With ``momentum=0`` it is plain SGD.

    Parameters
    ----------
    lr : float or callable, default 0.1
        The learning rate, > 0, or a schedule.
    momentum : float, default 0.0
        In [0, 1).
    nesterov : bool, default False
        Use Nesterov's form of momentum.

    Examples
    --------
    >>> SGD(lr=0.5).step(np.array([1.0, 2.0]), np.array([-1.0, 0.0]))
    array([0.5, 2. ])
    """

    _params = ("momentum", "nesterov")

    def __init__(self, lr: float | Callable[[int], float] = 0.1, momentum: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(lr)
        self.momentum = real_number("momentum", momentum, self._owner, *UNIT)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise ModelSpecError(message("nesterov", self._owner, "True or False", nesterov))
        self.nesterov = bool(nesterov)
        self._buffer_names = ("velocity",) if self.momentum > 0 else ()

    def _update(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
        self._step_size = lr
        if not self._buffer_names:
            out = lr * grad
        else:
            v = self._buffers["velocity"]
            v *= self.momentum
            v += grad
            if self.nesterov:
                out = self.momentum * v
                out += grad
                out *= lr
            else:
                out = lr * v
        out += theta
        return out


def _adam_moments(opt: Any, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Advance Adam's moment buffers in place: ``m <- beta1 m + (1 - beta1) g`` and
    ``v <- beta2 v + (1 - beta2) g**2``; returns them and the step number t (from 1)."""
    m, v = opt._buffers["m"], opt._buffers["v"]
    m *= opt.beta1
    m += (1.0 - opt.beta1) * grad
    v *= opt.beta2
    v += (1.0 - opt.beta2) * np.square(grad)
    return m, v, opt._t + 1


class Adam(Optimizer):
    """Adam for ascent, with bias correction.

    ``m <- beta1 m + (1 - beta1) g``, ``v <- beta2 v + (1 - beta2) g**2``, then
    ``theta + lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - beta1**t)`` and
    ``v_hat = v / (1 - beta2**t)``. Entries whose gradient has always been 0 do not move.

    Parameters
    ----------
    lr : float or callable, default 0.01
        The learning rate, > 0, or a schedule.
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of the moment estimates, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.

    Examples
    --------
    >>> Adam(lr=0.1).step(np.array([1.0, 2.0]), np.array([-5.0, 0.0])).round(6)
    array([0.9, 2. ])
    """

    _params = ("beta1", "beta2", "eps")
    _buffer_names = ("m", "v")

    def __init__(
        self, lr: float | Callable[[int], float] = 0.01, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1 = real_number("beta1", beta1, self._owner, *UNIT)
        self.beta2 = real_number("beta2", beta2, self._owner, *UNIT)
        self.eps = real_number("eps", eps, self._owner, *POSITIVE)

    def _update(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
        m, v, t = _adam_moments(self, grad)
        out = v / (1.0 - self.beta2**t)
        np.sqrt(out, out=out)
        out += self.eps
        self._step_size = lr / out
        np.divide(lr * (m / (1.0 - self.beta1**t)), out, out=out)
        out += theta
        return out


class GroupAdam(Optimizer):
    """Adam with one step scale per feature group: within a group, steps follow the gradient.

    The moments are Adam's, ``m <- beta1 m + (1 - beta1) g`` and ``v <- beta2 v + (1 - beta2) g**2``
    per coordinate, but each group G of features shares one denominator,
    ``s_G = sqrt(max_{k in G} v_hat_k) + eps``, and ``theta_k + lr * m_hat_k / s_G``. So the
    group's largest steady gradient moves its feature by about ``lr`` a step (Adam's fast
    start, whatever the features' scale), while every other feature of the group moves in
    proportion to its own gradient, as in SGD.

    Why: a chain estimate of a rare feature's mean is mostly noise. Adam divides each
    coordinate by its own root-mean-square gradient, so a noise-dominated coordinate moves
    about ``lr`` every step in a random direction; with many such features (a Potts model's
    rare joint states) their random walks add up in every local field and the model drifts far
    from the data. Plain SGD does not amplify the noise but crawls where the gradients are
    small overall (few-state models near their optimum, sloppy directions). One scale per
    group keeps both virtues (measured on PF00014 and the small hard models of the test suite;
    see docs/training.rst).

    Parameters
    ----------
    lr : float or callable, default 0.05
        The learning rate, > 0, or a schedule.
    groups : sequence of int or None, default None
        The group boundaries: the first feature of each group, then the number of features
        (``[0]`` for none)
        (``CompiledGraph.group_theta``, one group per ``add_features`` call). None: the whole
        vector is one group, until a :class:`~factorgraph.Trainer` binds the optimizer to its
        graph's groups (:meth:`bind`).
    beta1 : float, default 0.0
        Decay rate of the mean gradient, in [0, 1); 0 is no momentum.
    beta2 : float, default 0.999
        Decay rate of the squared gradient, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.

    Examples
    --------
    >>> opt = GroupAdam(lr=0.1, groups=[0, 2, 3])
    >>> opt.step(np.zeros(3), np.array([-4.0, 1.0, 0.5])).round(6)  # group 1 moves as its largest
    array([-0.1  ,  0.025,  0.1  ])
    """

    _params = ("groups", "beta1", "beta2", "eps")
    _buffer_names = ("m", "v")

    def __init__(
        self,
        lr: float | Callable[[int], float] = 0.05,
        groups: Any = None,
        beta1: float = 0.0,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(lr)
        self.groups = None if groups is None else self._check_groups(groups)
        self.beta1 = real_number("beta1", beta1, self._owner, *UNIT)
        self.beta2 = real_number("beta2", beta2, self._owner, *UNIT)
        self.eps = real_number("eps", eps, self._owner, *POSITIVE)

    def _check_groups(self, groups: Any) -> list[int]:
        try:
            bounds = np.asarray(groups)
            ok = bounds.ndim == 1 and len(bounds) >= 1 and np.issubdtype(bounds.dtype, np.integer)
        except (TypeError, ValueError):
            ok = False
        if not ok or bounds[0] != 0 or np.any(np.diff(bounds) < 0):
            raise ModelSpecError(
                message(
                    "groups",
                    self._owner,
                    "non-decreasing integer boundaries from 0, ending at the number of features",
                    groups,
                    "Pass CompiledGraph.group_theta, or None.",
                )
            )
        return [int(b) for b in bounds]

    def bind(self, graph: CompiledGraph) -> None:
        """Take the feature groups of a compiled graph when none were given."""
        if self.groups is None:
            self.groups = self._check_groups(graph.group_theta)

    def _update(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
        bounds = np.array([0, len(theta)] if self.groups is None else self.groups)
        if bounds[-1] != len(theta):  # before the buffers move: a refused step changes nothing
            raise ModelSpecError(
                message(
                    "theta",
                    f"{self._owner}.step",
                    f"{bounds[-1]} entries (the groups' end)",
                    f"{len(theta)} entries",
                    "Pass groups that cover the vector.",
                )
            )
        m, v, t = _adam_moments(self, grad)
        starts, sizes = bounds[:-1][np.diff(bounds) > 0], np.diff(bounds)[np.diff(bounds) > 0]
        if not len(starts):  # no features
            self._step_size = np.zeros(0)
            return theta.copy()
        scale = np.sqrt(np.maximum.reduceat(v, starts) / (1.0 - self.beta2**t)) + self.eps
        self._step_size = np.repeat(lr / scale, sizes)
        out = m / (1.0 - self.beta1**t)
        out *= self._step_size
        out += theta
        return out


_OPTIMIZERS: dict[str, type] = {"SGD": SGD, "Adam": Adam, "GroupAdam": GroupAdam}


def default_optimizer() -> GroupAdam:
    """The optimizer of every fit that names none (``fg.fit``, :class:`~factorgraph.Trainer`,
    model files without ``[optimizer]``): ``GroupAdam(lr=0.05)``, bound by the trainer to its
    graph's feature groups: a fast start that the trainer's :class:`Landing` turns into a
    decaying rate with iterate averaging at the noise floor.

    Without momentum: persistent chains lag a few steps behind θ, and momentum on a lagging
    gradient overshoots and oscillates (measured on frustrated and glassy models). One step
    scale per group, not per feature: per-feature scales (Adam) amplify the noise of rare
    features (see :class:`GroupAdam` and docs/training.rst)."""
    return GroupAdam(lr=0.05)
