"""Random-scan single-site Metropolis sampling of persistent chains, in pure Python.

A third-party plugin for factorgraph-maxent: it subclasses ``samplers.Sampler`` and registers
under the entry-point group ``factorgraph.samplers`` (see this package's pyproject.toml), so
``fg.Trainer(g, objectives, sampler="random-scan-metropolis")`` finds it by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import factorgraph as fg
import samplers

__all__ = ["RandomScanMetropolis"]


def _metropolis(energies: np.ndarray, current: np.ndarray) -> np.ndarray:
    """One Metropolis update: propose one of the other states uniformly, accept with min(1, p'/p)."""
    k = energies.shape[1]
    if k == 1:
        return np.ones_like(energies)
    rows = np.arange(len(current))
    gain = energies - energies[rows, current][:, None]
    moves = np.exp(np.minimum(gain, 0.0)) / (k - 1)
    moves[rows, current] = 0.0
    moves[rows, current] = 1.0 - moves.sum(axis=1)
    return moves


class RandomScanMetropolis(samplers.Sampler):
    """Random-scan single-site Metropolis sampling, vectorised across chains.

    A sweep is ``n_variables`` steps. At each step every chain picks one variable uniformly at
    random, proposes one of its other states uniformly, and accepts with probability
    min(1, p(x') / p(x)). Each step leaves p_θ invariant (it satisfies detailed balance), so the
    sweep does too.

    Parameters
    ----------
    graph : CompiledGraph
    n_chains : int
        The number of persistent chains.
    seed : int, SeedSequence or None
        Seeds the chains' initial states and every random number drawn by the sampler. Each
        sweep draws from a numpy ``Generator`` seeded by (key, sweep): a counter-based stream,
        so the state (chains, key, sweep) says exactly where the run is, and a checkpoint can
        continue it. The same seed gives the same chains.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg, samplers
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> sampler = samplers.create("random-scan-metropolis", g.compile(), n_chains=2000, seed=0)
    >>> info = sampler.run(np.array([0.5]), 30)
    >>> bool(abs(sampler.stats().mean[0] - np.tanh(0.5)) < 0.1)
    True
    """

    name = "random-scan-metropolis"

    def __init__(self, graph: Any, n_chains: int, *, seed: int | np.random.SeedSequence | None = None) -> None:
        super().__init__(graph, n_chains, seed=seed)
        start = np.random.default_rng(self.key)
        self._x = (start.random((self.n_chains, graph.n_variables)) * graph.n_states).astype(np.int32)
        self._sweep = 0

    def _stream(self) -> np.random.Generator:
        """The random numbers of the next sweep: a function of the key and the sweep counter."""
        return np.random.default_rng([*self.key.tolist(), self._sweep, 1])

    def run(self, theta: Any, n_sweeps: int) -> samplers.SweepInfo:
        """Advance every chain by ``n_sweeps`` sweeps at ``theta``; returns a SweepInfo."""
        if not isinstance(n_sweeps, int | np.integer) or n_sweeps < 0:
            raise fg.ModelSpecError(
                f"The 'n_sweeps' argument of RandomScanMetropolis.run must be an int >= 0; got {n_sweeps!r}."
            )
        theta = np.asarray(theta, dtype=np.float64)
        n_variables = self.graph.n_variables
        chains = np.arange(self.n_chains)
        accepted = 0
        for _ in range(n_sweeps):
            rng = self._stream()
            for _ in range(n_variables):
                v = rng.integers(n_variables, size=self.n_chains)
                k = self.graph.n_states[v]
                shift = (rng.random(self.n_chains) * (k - 1)).astype(np.int32) + 1
                proposal = self._x.copy()
                proposal[chains, v] = (self._x[chains, v] + shift) % k  # one of the other k - 1 states
                gain = self.graph.energy(proposal, theta, n_threads=1) - self.graph.energy(self._x, theta, n_threads=1)
                accept = (np.log(rng.random(self.n_chains)) < gain) & (k > 1)
                self._x[accept] = proposal[accept]
                accepted += int(accept.sum())
            self._sweep += 1
        n_updates = n_sweeps * self._x.size
        rate = accepted / n_updates if n_updates else 0.0
        return samplers.SweepInfo(n_sweeps, n_updates, accepted, {"acceptance_rate": rate})

    def stats(self) -> samplers.ChainStats:
        """Feature means over the chains."""
        return samplers.ChainStats(self.graph.feature_sums(self._x) / self.n_chains, self.n_chains, self._sweep)

    @property
    def states(self) -> np.ndarray:
        """The chains' states, shape (n_chains, n_variables), a copy."""
        return self._x.copy()

    def get_state(self) -> dict[str, Any]:
        """Chain states, generator key and sweep counter (copies): the generator's position."""
        return {"sampler": self.name, "states": self.states, "key": self.key.copy(), "sweep": self._sweep}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`; continuing gives the uninterrupted run's chains."""
        if state.get("sampler") != self.name:
            raise fg.DataError(
                f"RandomScanMetropolis.set_state got the state of {state.get('sampler')!r}, "
                "not of 'random-scan-metropolis'."
            )
        states = np.array(state["states"], dtype=np.int32)
        if states.shape != self._x.shape or (states < 0).any() or (states >= self.graph.n_states).any():
            raise fg.DataError(
                f"RandomScanMetropolis.set_state needs states of shape {self._x.shape} within the domains."
            )
        self._x = states
        self.key = np.array(state["key"], dtype=np.uint32)
        self._sweep = int(state["sweep"])

    def transition_matrix(self, theta: Any) -> np.ndarray:
        """The exact transition matrix of one sweep over every joint state of a small model.

        One step is the average of the single-variable Metropolis updates (the variable is
        uniform), and a sweep is ``n_variables`` steps.
        """
        n_variables = self.graph.n_variables
        if not n_variables:
            return np.eye(1)
        step = sum(samplers.single_site_matrix(self.graph, theta, v, _metropolis) for v in range(n_variables))
        return np.linalg.matrix_power(step.toarray() / n_variables, n_variables)
