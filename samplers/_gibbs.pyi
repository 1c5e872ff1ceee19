# Type stub of the Cython extension samplers/_gibbs.pyx.
import numpy as np

from factorgraph._kernels import GraphView

class PairTables:
    mode_arr: object
    def __init__(self, g: GraphView, theta: np.ndarray | None = None) -> None: ...
    def fill(self, theta: np.ndarray, n_threads: int = 1) -> None: ...

def sweep(
    g: GraphView,
    x: np.ndarray,
    theta: np.ndarray,
    block_sums: np.ndarray,
    key: np.ndarray,
    n_chains: int,
    first_chain: int,
    block_size: int,
    first_sweep: int,
    n_sweeps: int,
    n_threads: int,
    tables: PairTables | None = None,
    track: bool = True,
) -> int: ...
