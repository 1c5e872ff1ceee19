# Type stub of the Cython extension samplers/_core.pyx (chain storage shared by the samplers).
import numpy as np

from factorgraph._kernels import GraphView

def thread_counts(threads: int, shape: tuple[int, ...]) -> np.ndarray: ...
def owned_widths(g: GraphView) -> np.ndarray: ...
def recompute_sums(
    g: GraphView,
    x: np.ndarray,
    block_sums: np.ndarray,
    n_chains: int,
    block_size: int,
    n_threads: int,
    widths: np.ndarray | None = None,
) -> None: ...
def add_recorded_sums(
    g: GraphView,
    recorded: np.ndarray,
    sums: np.ndarray,
    n_chains: int,
    block_size: int,
    n_threads: int,
) -> None: ...
def weighted_block_sums(
    g: GraphView, x: np.ndarray, weights: np.ndarray, n_chains: int, block_size: int, n_threads: int
) -> np.ndarray: ...
def init_states(g: GraphView, x: np.ndarray, key: np.ndarray, n_chains: int, first_chain: int) -> None: ...
