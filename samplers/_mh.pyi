# Type stub of the Cython extension samplers/_mh.pyx.
import numpy as np

from factorgraph._kernels import GraphView

class Moves:
    walk_arr: object
    offset_arr: object
    order_arr: object
    n_states_arr: object
    color_ptr_arr: object
    step: int
    def __init__(
        self, walk: object, step: int, offset: object, order: object, n_states: object, color_ptr: object
    ) -> None: ...

def sweep(
    g: GraphView,
    moves: Moves,
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
    counts: np.ndarray,
) -> int: ...
def _py_propose(moves: Moves, v: int, k: int, old: int, u: float) -> int: ...
