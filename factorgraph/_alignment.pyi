# Type stub of the Cython extension factorgraph/_alignment.pyx.
import numpy as np

def neighbour_counts(seqs: object, max_mismatches: int, n_threads: int = 1, portable: bool = False) -> np.ndarray: ...
