"""Variable domains: the states of a variable and the numeric value of each state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factorgraph._errors import DataError, ModelSpecError
from factorgraph._validation import as_finite_array, check_int, message

__all__ = ["Domain", "make_domain", "MAX_JOINT_STATES"]

#: The most joint states one scope (and so one variable) may have: tables are tabulated in full.
MAX_JOINT_STATES = 2**24

# Values closer than this (relative) are treated as equal when encoding raw data.
_ENCODE_RTOL = 1e-9


@dataclass(frozen=True, eq=False)
class Domain:
    """The finite domain of a variable.

    Parameters
    ----------
    values : ndarray of shape (n_states,)
        The numeric value of each state index.
    edges : ndarray of shape (n_states + 1,) or None
        Bin edges when the variable discretises a continuous quantity; raw values are then
        binned by these edges when encoding.
    """

    values: np.ndarray
    edges: np.ndarray | None = None

    @property
    def n_states(self) -> int:
        """The number of states."""
        return len(self.values)

    def key(self) -> tuple:
        """A hashable identity: domains with equal keys are interchangeable."""
        edges = None if self.edges is None else self.edges.tobytes()
        return (self.values.tobytes(), edges)

    def encode(self, raw: np.ndarray, variables: np.ndarray) -> np.ndarray:
        """Map raw values, shape (N, len(variables)), of variables with this domain to states."""
        if self.edges is not None:
            states = np.searchsorted(self.edges, raw, side="right") - 1
            states[raw == self.edges[-1]] = self.n_states - 1  # last bin is closed on the right
            bad = (states < 0) | (states >= self.n_states)
            if bad.any():
                row, col = np.argwhere(bad)[0]
                raise DataError(
                    f"Value {raw[row, col]!r} of variable {variables[col]} lies outside its bin edges "
                    f"[{self.edges[0]}, {self.edges[-1]}]. Clip the data or widen the edges."
                )
            return states
        order = np.argsort(self.values, kind="stable")
        sorted_values = self.values[order]
        pos = np.clip(np.searchsorted(sorted_values, raw), 0, self.n_states - 1)
        left = np.clip(pos - 1, 0, self.n_states - 1)
        pick = np.where(np.abs(sorted_values[left] - raw) < np.abs(sorted_values[pos] - raw), left, pos)
        nearest = sorted_values[pick]
        ok = np.abs(nearest - raw) <= _ENCODE_RTOL * np.maximum(1.0, np.abs(raw))
        if not ok.all():
            row, col = np.argwhere(~ok)[0]
            raise DataError(
                f"Value {raw[row, col]!r} of variable {variables[col]} is not one of its state values "
                f"{self.values.tolist()}. Discretise the data first, or declare the variable "
                "with edges= so that values are binned."
            )
        return order[pick]


def make_domain(n_states: object, values: object, edges: object) -> Domain:
    """Build a validated Domain from the arguments of ``FactorGraph.add_variables``."""
    owner = "FactorGraph.add_variables"
    given = [name for name, arg in (("n_states", n_states), ("values", values)) if arg is not None]
    if edges is not None:
        e = as_finite_array("edges", edges, owner, error=ModelSpecError)
        if e.ndim != 1 or len(e) < 2 or np.any(np.diff(e) <= 0):
            raise ModelSpecError(message("edges", owner, "a strictly increasing 1-D array of at least 2 edges", edges))
        v = (e[:-1] + e[1:]) / 2 if values is None else as_finite_array("values", values, owner, ModelSpecError)
        if v.shape != (len(e) - 1,):
            raise ModelSpecError(message("values", owner, f"one value per bin ({len(e) - 1})", f"shape {v.shape}"))
        if n_states is not None and check_int("n_states", n_states, owner, minimum=1) != len(v):
            raise ModelSpecError(message("n_states", owner, f"{len(v)} (the number of bins)", n_states))
        return Domain(_frozen(v), _frozen(e))
    if values is not None:
        v = as_finite_array("values", values, owner, error=ModelSpecError)
        if v.ndim != 1 or len(v) < 1:
            raise ModelSpecError(message("values", owner, "a non-empty 1-D array of state values", values))
        if len(np.unique(v)) != len(v):
            raise ModelSpecError(message("values", owner, "distinct values", values, "Give each state its own value."))
        if n_states is not None and check_int("n_states", n_states, owner, minimum=1) != len(v):
            raise ModelSpecError(
                message("n_states", owner, f"len(values) = {len(v)}", n_states, "Pass only one of n_states and values.")
            )
        return Domain(_frozen(v))
    k = 2 if not given else check_int("n_states", n_states, owner, minimum=1, maximum=MAX_JOINT_STATES)
    return Domain(_frozen(np.arange(k, dtype=np.float64)))


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.flags.writeable = False
    return array
