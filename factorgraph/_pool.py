"""A deduplicating pool of flat tables: identical tables are stored once."""

from __future__ import annotations

import numpy as np


class TablePool:
    """Append-only storage of 1-D tables of one dtype, each identical table stored once.

    Parameters
    ----------
    dtype : numpy dtype
        The dtype of every table (float64 for scaled tables, int32 for index maps).
    """

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self._chunks: list[np.ndarray] = []
        self._offsets: dict[tuple[int, bytes], int] = {}
        self.size = 0
        self._joined: np.ndarray | None = None

    def add(self, tables: np.ndarray) -> np.ndarray:
        """Store the rows of ``tables`` (shape (R, size)); return each row's offset (int64)."""
        tables = np.ascontiguousarray(tables, dtype=self.dtype)
        if tables.shape[0] == 1:
            return np.array([self._add_one(tables[0])], dtype=np.int64)
        unique, inverse = np.unique(tables, axis=0, return_inverse=True)
        offsets = np.array([self._add_one(row) for row in unique], dtype=np.int64)
        return offsets[inverse.ravel()]

    def _add_one(self, table: np.ndarray) -> int:
        key = (len(table), table.tobytes())
        offset = self._offsets.get(key)
        if offset is None:
            offset = self._offsets[key] = self.size
            self._chunks.append(table.copy())
            self.size += len(table)
            self._joined = None
        return offset

    @property
    def n_tables(self) -> int:
        """The number of distinct tables stored."""
        return len(self._chunks)

    def joined(self) -> np.ndarray:
        """All tables as one flat array (cached until the next new table)."""
        if self._joined is None:
            self._joined = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=self.dtype)
        return self._joined

    @classmethod
    def from_array(cls, flat: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> TablePool:
        """Rebuild a pool from a joined array and the (offset, size) of each distinct table."""
        pool = cls(flat.dtype)
        for offset, size in sorted(zip(offsets.tolist(), sizes.tolist())):
            pool._add_one(flat[offset : offset + size])
        return pool

    def layout(self) -> tuple[np.ndarray, np.ndarray]:
        """The (offsets, sizes) of the distinct tables, for saving."""
        sizes = np.array([len(c) for c in self._chunks], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if len(sizes) else sizes
        return offsets, sizes
