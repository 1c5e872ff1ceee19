"""Draw samples from a model with any registered sampler."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._progress import progress_bar, rate
from factorgraph._validation import check_int, check_theta
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import GraphLike


def sample(
    graph: GraphLike,
    theta: ArrayLike,
    n_samples: int,
    sampler: str = "gibbs",
    n_chains: int | None = None,
    burn_in: int = 1000,
    thin: int = 10,
    seed: int | np.random.SeedSequence | None = None,
    progress: bool | None = None,
    **options: Any,
) -> np.ndarray:
    """Samples from p_θ by persistent Markov chains.

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
    theta : array_like of shape (n_features,)
    n_samples : int
        How many samples to return.
    sampler : str, default "gibbs"
        A name from ``samplers.available()``.
    n_chains : int, optional
        Chains run side by side (default: min(n_samples, 256)). Each round of ``thin`` sweeps
        contributes one sample per chain.
    burn_in : int, default 1000
        Sweeps discarded before the first sample.
    thin : int, default 10
        Sweeps between successive samples of one chain.
    seed : int, SeedSequence or None
        Seeds the sampler (same seed, same samples, for any thread count).
    progress : bool or None, default None
        Show a progress bar of sweeps with the updates per second. None: only when standard
        error is a terminal (or in a notebook) and not under CI. The samples are the same
        either way.
    **options
        Passed to the sampler (e.g. ``n_threads``).

    Returns
    -------
    ndarray of shape (n_samples, n_variables), int32
        State indices; rows come round by round, chain by chain.

    Examples
    --------
    >>> import numpy as np, factorgraph as fg
    >>> g = fg.FactorGraph()
    >>> _ = g.add_variables(2, values=[-1, 1])
    >>> _ = g.add_features(fg.features.Product([(0, 1)]))
    >>> x = fg.sample(g, np.array([2.0]), 1000, burn_in=10, thin=2, seed=0)
    >>> x.shape, bool(np.mean(x[:, 0] == x[:, 1]) > 0.9)
    ((1000, 2), True)
    """
    import samplers

    compiled = as_compiled(graph)
    owner = "sample"
    theta = check_theta(theta, compiled.n_features, owner)
    n_samples = check_int("n_samples", n_samples, owner, minimum=1)
    n_chains = min(n_samples, 256) if n_chains is None else check_int("n_chains", n_chains, owner, minimum=1)
    burn_in = check_int("burn_in", burn_in, owner, minimum=0)
    thin = check_int("thin", thin, owner, minimum=1)
    chains = samplers.create(sampler, compiled, n_chains, seed=seed, **options)
    rounds = -(-n_samples // n_chains)
    out = np.empty((rounds * n_chains, compiled.n_variables), dtype=np.int32)
    bar = progress_bar(burn_in + rounds * thin, progress, desc="sample", unit="sweep")
    if bar is None:
        chains.run(theta, burn_in)
        for r in range(rounds):
            chains.run(theta, thin)
            out[r * n_chains : (r + 1) * n_chains] = chains.states
        return out[:n_samples]
    # With a bar, burn-in runs in about 100 pieces; n sweeps then m sweeps equal n + m sweeps.
    start, updates = time.perf_counter(), 0

    def advance(n_sweeps: int) -> None:
        nonlocal updates
        updates += chains.run(theta, n_sweeps).n_updates
        bar.update(n_sweeps)
        bar.set_postfix(updates=rate(updates, time.perf_counter() - start), refresh=False)

    try:
        piece = max(1, burn_in // 100)
        for done in range(0, burn_in, piece):
            advance(min(piece, burn_in - done))
        for r in range(rounds):
            advance(thin)
            out[r * n_chains : (r + 1) * n_chains] = chains.states
    finally:
        bar.close()
    return out[:n_samples]
