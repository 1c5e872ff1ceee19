# Type stub of the Cython extension samplers/_sw.pyx.
import numpy as np

from factorgraph._kernels import GraphView

def sweep(
    g: GraphView,
    x: np.ndarray,
    theta: np.ndarray,
    block_sums: np.ndarray,
    bond_a: np.ndarray,
    bond_b: np.ndarray,
    p_open: np.ndarray,
    strength: np.ndarray,
    key: np.ndarray,
    n_chains: int,
    first_chain: int,
    block_size: int,
    first_sweep: int,
    n_sweeps: int,
    n_threads: int,
    counts: np.ndarray,
) -> int: ...
def bond_strengths(g: GraphView, theta: np.ndarray, factors: np.ndarray, out: np.ndarray) -> None: ...
def _py_uniform_at(key: object, variable: int, sweep: int, stream: int, chain: int) -> float: ...
def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...
