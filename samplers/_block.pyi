# Type stub of the Cython extension samplers/_block.pyx.
import numpy as np

from factorgraph._kernels import GraphView

class Blocks:
    block_ptr_arr: object
    block_vars_arr: object
    color_ptr_arr: object
    n_joint_arr: object
    max_joint: int
    max_factors: int
    max_vars: int
    def __init__(self, g: GraphView, block_ptr: object, block_vars: object, color_ptr: object) -> None: ...

def sweep(
    g: GraphView,
    blocks: Blocks,
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
) -> int: ...
def greedy_blocks(n_states: np.ndarray, first: np.ndarray, second: np.ndarray, max_joint_states: int) -> np.ndarray: ...
