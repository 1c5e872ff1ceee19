"""Joint states as mixed-radix numbers: the one place-value rule every module shares."""

from __future__ import annotations

import numpy as np

__all__ = ["place_values"]


def place_values(sizes: np.ndarray) -> np.ndarray:
    """Each variable's place value in the row-major joint-state number (the last changes fastest).

    Examples
    --------
    >>> place_values(np.array([2, 3, 4])).tolist()
    [12, 4, 1]
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)
