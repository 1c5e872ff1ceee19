"""A pure-Python Gibbs sampler that draws the same random numbers as the Cython kernel.

It is slow and obviously correct: the reference the compiled sampler is tested against bit for
bit, and the test-only plugin that exercises entry-point loading (registered as "loopback" in
this project's pyproject.toml).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._validation import check_theta
from samplers import _random
from samplers._protocol import ChainStats, Sampler, SweepInfo

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph._validation import SeedLike
    from factorgraph.compiled import CompiledGraph


class LoopbackGibbs(Sampler):
    """Reference heat-bath Gibbs sampler in pure Python (see module docstring)."""

    name = "loopback"

    def __init__(self, graph: CompiledGraph, n_chains: int, *, seed: SeedLike = None, first_chain: int = 0) -> None:
        super().__init__(graph, n_chains, seed=seed)
        self.first_chain = first_chain
        self._x = np.empty((n_chains, graph.n_variables), dtype=np.int32)
        for v in range(graph.n_variables):
            u = _random.uniforms(self.key, v, first_chain, n_chains, 0, _random.STREAM_INIT)
            self._x[:, v] = (u * graph.n_states[v]).astype(np.int32)
        self._sweep = 0

    @staticmethod
    def _draw(local: np.ndarray, u: float) -> int:
        """The kernel's selection rule, operation for operation, from per-factor energies."""
        v = np.float32(np.floor(u * 2.0**24) / 2.0**24)  # the uniform cut to 24 bits
        if local.shape[1] == 2:  # one logistic in d, summed factor by factor in floats
            d = np.float32(0.0)
            for e0, e1 in local.tolist():
                d = np.float32(d + np.float32(e1 - e0))
            z = np.float32(_random.exp_neg_f(-abs(d)))
            return int(np.float32(v * np.float32(np.float32(1.0) + z)) < (np.float32(1.0) if d >= 0.0 else z))
        energy = np.zeros(local.shape[1], dtype=np.float32)
        for row in local:  # summed factor by factor in floats, like the kernel
            energy += row.astype(np.float32)
        weights = _random.exp_neg_f(energy - energy.max())  # and drawn in floats
        cumulative, total = [], np.float32(0.0)
        for w in weights:
            total = np.float32(total + w)
            cumulative.append(total)
        v = v * total
        return next((s for s in range(len(energy) - 1) if v < cumulative[s]), len(energy) - 1)

    def run(self, theta: ArrayLike, n_sweeps: int) -> SweepInfo:
        theta = check_theta(theta, self.graph.n_features, "LoopbackGibbs.run")
        changes = 0
        for _ in range(n_sweeps):
            for variables in self.graph.color_classes:
                for v in variables.tolist():
                    u = _random.uniforms(self.key, v, self.first_chain, self.n_chains, self._sweep)
                    for c in range(self.n_chains):
                        new = self._draw(self.graph.local_energies(self._x[c], v, theta), u[c])
                        changes += new != self._x[c, v]
                        self._x[c, v] = new
            self._sweep += 1
        return SweepInfo(n_sweeps, n_sweeps * self._x.size, int(changes))

    def stats(self) -> ChainStats:
        return ChainStats(self.graph.feature_sums(self._x) / self.n_chains, self.n_chains, self._sweep)

    @property
    def states(self) -> np.ndarray:
        return self._x.copy()

    def get_state(self) -> dict[str, Any]:
        return {"states": self._x.copy(), "sweep": self._sweep, "key": self.key.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._x = np.array(state["states"], dtype=np.int32)
        self._sweep = int(state["sweep"])
        self.key = np.array(state["key"], dtype=np.uint32)
