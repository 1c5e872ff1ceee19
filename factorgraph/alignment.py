"""Multiple sequence alignments: aligned FASTA, A2M/A3M and Stockholm files to states and weights.

A protein or RNA family is given as an alignment: one row per sequence, one column per aligned
position. :func:`read_alignment` turns it into what a Potts model is fitted to: an ``(M, L)``
array of state indices (the symbol's place in the alphabet; the built-in alphabets put the gap
first, as the field does) and one weight per sequence, by default the field's usual
reweighting, 1 / (the number of sequences at least 80% identical to it, itself included), which
:func:`sequence_weights` computes in compiled, multithreaded code. :func:`write_fasta` writes
states back as an aligned FASTA file (for sequences sampled from a fitted model).

The formats, and what is read of each:

* aligned FASTA (``>name`` lines, each followed by the sequence on one or more lines);
* A2M and A3M (FASTA whose lower-case letters and ``.`` mark insertions relative to the match
  columns: they are dropped, as the field does, so every sequence keeps the match columns);
* Stockholm (``# STOCKHOLM 1.0``; ``name sequence`` lines, possibly in several blocks that are
  joined; ``#`` annotation lines skipped; the first alignment of the file, to ``//``), whose
  lower-case letters and ``.`` are insertions too.

Files may be gzip-compressed (read by their magic bytes, whatever the name).
"""

from __future__ import annotations

import gzip
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from factorgraph._errors import DataError
from factorgraph._openmp import effective_n_threads

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

__all__ = ["ALPHABETS", "Alignment", "read_alignment", "sequence_weights", "write_fasta"]

ALPHABETS: dict[str, str] = {
    "protein": "-ACDEFGHIKLMNPQRSTVWY",
    "rna": "-ACGU",
    "dna": "-ACGT",
}
"""The built-in alphabets: the gap first, then the residues in alphabetical order of their
one-letter codes (the order of PF00014's numerical form and of most DCA software)."""

Format = Literal["auto", "fasta", "a2m", "a3m", "stockholm"]
_STOCKHOLM_SUFFIXES = {".sto", ".stk", ".sth", ".stockholm"}
_INSERT_SUFFIXES = {".a2m", ".a3m"}
_INSERTS = b"abcdefghijklmnopqrstuvwxyz."


@dataclass(frozen=True, repr=False)
class Alignment:
    """An alignment read into states (see :func:`read_alignment`).

    Attributes
    ----------
    states : ndarray of int32, shape (M, L)
        ``states[m, i]`` is the place in ``alphabet`` of sequence m's symbol at position i.
    weights : ndarray of float64, shape (M,)
        One weight per sequence (all 1 when no reweighting was asked for).
    names : tuple of str
        The sequences' names: FASTA header lines without the ``>``, Stockholm sequence names.
    alphabet : str
        The symbols of the states, state 0 first.
    columns : ndarray of int64, shape (L,)
        The kept positions' columns among the file's match columns, counted from 0 (every
        column unless a gap filter removed some).
    identity : float or None
        The identity threshold of the weights, or None for unit weights.
    """

    states: np.ndarray
    weights: np.ndarray
    names: tuple[str, ...]
    alphabet: str
    columns: np.ndarray
    identity: float | None = field(default=None)

    @property
    def n_sequences(self) -> int:
        """M, the number of sequences."""
        return int(self.states.shape[0])

    @property
    def length(self) -> int:
        """L, the number of positions."""
        return int(self.states.shape[1])

    @property
    def n_states(self) -> int:
        """q, the number of symbols of the alphabet."""
        return len(self.alphabet)

    @property
    def m_eff(self) -> float:
        """The effective number of sequences: the sum of the weights."""
        return float(self.weights.sum())

    def to_fasta(self, path: str | os.PathLike[str]) -> None:
        """Write the sequences as an aligned FASTA file (see :func:`write_fasta`)."""
        write_fasta(path, self.states, self.alphabet, names=self.names)

    def __repr__(self) -> str:
        weights = f"identity {self.identity:g}" if self.identity is not None else "unit weights"
        return (
            f"Alignment({self.n_sequences} sequences x {self.length} positions, q = {self.n_states}, "
            f"M_eff = {self.m_eff:.1f} ({weights}))"
        )


def read_alignment(
    path: str | os.PathLike[str],
    alphabet: str = "protein",
    *,
    format: Format = "auto",
    unknown: str = "gap",
    identity: float | None = 0.8,
    max_gap_fraction: float | None = None,
    max_column_gap_fraction: float | None = None,
    n_threads: int | None = None,
) -> Alignment:
    """Read an alignment file into states and sequence weights.

    Parameters
    ----------
    path : str or path-like
        An aligned FASTA, A2M/A3M or Stockholm file, optionally gzip-compressed.
    alphabet : str
        ``"protein"`` (``-ACDEFGHIKLMNPQRSTVWY``), ``"rna"`` (``-ACGU``), ``"dna"`` (``-ACGT``),
        or the symbols themselves, state 0 first. Letters match in either case.
    format : {"auto", "fasta", "a2m", "a3m", "stockholm"}
        ``"auto"`` reads Stockholm for a file that starts with ``# STOCKHOLM`` or is named
        ``.sto``, ``.stk``, ``.sth`` or ``.stockholm``, else FASTA; FASTA with lower-case letters
        or ``.`` beside upper-case ones is read as A2M/A3M (they mark insertions, which are
        dropped). ``"fasta"`` keeps lower-case letters as residues; ``"a2m"`` and ``"a3m"``
        drop insertions.
    unknown : str
        What a symbol outside the alphabet becomes: ``"gap"`` (the alphabet's ``-``), a symbol
        of the alphabet, or ``"error"`` to refuse the file.
    identity : float or None
        Weights are 1 / (the number of sequences whose fraction of identical positions with this
        one, gaps included, is at least ``identity``, itself included); None gives unit weights.
    max_gap_fraction : float or None
        Drop the sequences with more than this fraction of gaps (after the column filter).
    max_column_gap_fraction : float or None
        Drop the columns with more than this fraction of gaps (unweighted, over all sequences).
    n_threads : int or None
        Threads of the weight computation (None: every core).

    Returns
    -------
    Alignment
        ``states``, ``weights``, ``names``, ``alphabet``, ``columns``, ``m_eff``.

    Raises
    ------
    DataError
        An empty file, sequences of different lengths, an unknown symbol with
        ``unknown="error"``, or a filter that leaves nothing.
    """
    path = Path(path)
    symbols = _alphabet(alphabet)
    table = _encoding_table(symbols, unknown)
    raw = _read_bytes(path)
    kind = _format_of(path, raw, format)
    names, rows = _parse_stockholm(raw, path) if kind == "stockholm" else _parse_fasta(raw, path)
    if kind in ("a2m", "a3m", "stockholm"):
        rows = [row.translate(None, _INSERTS) for row in rows]
    elif kind == "auto" and any(re.search(rb"[a-z.]", row) for row in rows):
        # insertions beside upper-case match columns; a file with no upper case is plain FASTA
        if any(re.search(rb"[A-Z]", row) for row in rows):
            rows = [row.translate(None, _INSERTS) for row in rows]
    states = _encode(rows, names, table, symbols, path)
    columns = np.arange(states.shape[1], dtype=np.int64)
    gap = symbols.find("-")
    if max_column_gap_fraction is not None:
        keep = _gap_fractions(states, gap, "max_column_gap_fraction", axis=0) <= max_column_gap_fraction
        if not keep.any():
            raise DataError(
                f"{path}: every column has more than {max_column_gap_fraction:g} gaps; raise max_column_gap_fraction"
            )
        states, columns = np.ascontiguousarray(states[:, keep]), columns[keep]
    if max_gap_fraction is not None:
        keep = _gap_fractions(states, gap, "max_gap_fraction", axis=1) <= max_gap_fraction
        if not keep.any():
            raise DataError(f"{path}: every sequence has more than {max_gap_fraction:g} gaps; raise max_gap_fraction")
        states = np.ascontiguousarray(states[keep])
        names = [name for name, kept in zip(names, keep) if kept]
    weights = np.ones(states.shape[0]) if identity is None else sequence_weights(states, identity, n_threads=n_threads)
    return Alignment(states, weights, tuple(names), symbols, columns, identity)


def sequence_weights(states: ArrayLike, identity: float = 0.8, *, n_threads: int | None = None) -> np.ndarray:
    """1 / (the number of sequences at least ``identity`` identical to each, itself included).

    Two sequences are counted as neighbours when the fraction of positions at which they hold
    the same state (gaps included) is at least ``identity``. Computed in compiled code, in
    tiles of sequences that stay in the cache, on ``n_threads`` threads (None: every core);
    a pair stops being compared once it has more mismatches than ``identity`` allows.

    Parameters
    ----------
    states : array_like of int, shape (M, L)
        State indices (below 256).
    identity : float
        The threshold, in [0, 1].
    n_threads : int or None
        Threads (None: every core).

    Returns
    -------
    ndarray of float64, shape (M,)
    """
    from factorgraph import _alignment

    a = np.asarray(states)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"sequence_weights needs a 2-D array of state indices; got shape {a.shape}, dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > 255):
        raise DataError("sequence_weights needs state indices in 0..255")
    if not 0.0 <= identity <= 1.0:
        raise DataError(f"identity must be in [0, 1]; got {identity}")
    length = a.shape[1]
    # the fewest identical positions that reach the threshold (rounded so that 0.8 * 50 is 40)
    min_matches = math.ceil(round(identity * length, 9))
    counts = _alignment.neighbour_counts(
        np.ascontiguousarray(a, dtype=np.uint8), length - min_matches, effective_n_threads(n_threads)
    )
    return 1.0 / counts


def write_fasta(
    path: str | os.PathLike[str],
    states: ArrayLike,
    alphabet: str = "protein",
    *,
    names: Sequence[str] | None = None,
) -> None:
    """Write state rows as an aligned FASTA file, one line per sequence.

    Parameters
    ----------
    path : str or path-like
        The file to write (replaced whole: written to a temporary file, then renamed).
    states : array_like of int, shape (M, L)
        State indices into ``alphabet``.
    alphabet : str
        ``"protein"``, ``"rna"``, ``"dna"`` or the symbols, state 0 first.
    names : sequence of str, optional
        The header of each sequence (default ``seq1``, ``seq2``, ...).
    """
    symbols = _alphabet(alphabet)
    a = np.asarray(states)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
        raise DataError(f"write_fasta needs a 2-D array of state indices; got shape {a.shape}")
    if a.size and (a.min() < 0 or a.max() >= len(symbols)):
        raise DataError(f"write_fasta: states must lie in 0..{len(symbols) - 1} for the alphabet {symbols!r}")
    if names is None:
        names = [f"seq{m + 1}" for m in range(a.shape[0])]
    elif len(names) != a.shape[0]:
        raise DataError(f"write_fasta: {len(names)} names for {a.shape[0]} sequences")
    elif any("\n" in str(name) or "\r" in str(name) for name in names):
        raise DataError("write_fasta: a name holds a line break, which would end its header line")
    letters = np.frombuffer(symbols.encode("ascii"), dtype=np.uint8)[a]
    text = "".join(f">{name}\n{row.tobytes().decode('ascii')}\n" for name, row in zip(names, letters))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _alphabet(alphabet: str) -> str:
    symbols = ALPHABETS.get(alphabet, alphabet)
    if not symbols or not symbols.isascii() or len(set(symbols)) != len(symbols) or any(c.isspace() for c in symbols):
        raise DataError(
            f"alphabet must be one of {sorted(ALPHABETS)} or a string of distinct printable ASCII symbols; "
            f"got {alphabet!r}"
        )
    return symbols


def _encoding_table(symbols: str, unknown: str) -> np.ndarray:
    """Byte -> state (-1: unknown and refused), each letter in both cases unless both are symbols."""
    if unknown == "error":
        fill = -1
    elif unknown == "gap":
        fill = symbols.find("-")
        if fill < 0:
            raise DataError(f"the alphabet {symbols!r} has no gap '-': pass unknown= one of its symbols, or 'error'")
    elif len(unknown) == 1 and unknown in symbols:
        fill = symbols.index(unknown)
    else:
        raise DataError(f"unknown must be 'gap', 'error' or one symbol of the alphabet {symbols!r}; got {unknown!r}")
    table = np.full(256, fill, dtype=np.int16)
    for state, symbol in enumerate(symbols):
        for variant in {symbol.upper(), symbol.lower()}:
            if variant == symbol or variant not in symbols:
                table[ord(variant)] = state
    return table


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except FileNotFoundError:
        raise DataError(f"no alignment file at {path}") from None
    except (OSError, EOFError) as exc:  # a folder, no permission, a damaged gzip stream
        raise DataError(f"cannot read the alignment file {path}: {exc}") from None


def _format_of(path: Path, raw: bytes, format: str) -> str:
    if format not in ("auto", "fasta", "a2m", "a3m", "stockholm"):
        raise DataError(f"format must be 'auto', 'fasta', 'a2m', 'a3m' or 'stockholm'; got {format!r}")
    if format != "auto":
        return format
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _STOCKHOLM_SUFFIXES or raw.lstrip()[:11].upper() == b"# STOCKHOLM":
        return "stockholm"
    return "a3m" if suffix in _INSERT_SUFFIXES else "auto"


def _parse_fasta(raw: bytes, path: Path) -> tuple[list[str], list[bytes]]:
    names: list[str] = []
    parts: list[list[bytes]] = []
    for number, line in enumerate(raw.splitlines(), 1):
        line = line.strip()
        if line.startswith(b">"):
            names.append(line[1:].strip().decode("utf-8", "replace"))
            parts.append([])
        elif not line or line.startswith((b"#", b";")):
            continue  # A3M's leading '#' line and FASTA comments
        elif not parts:
            raise DataError(f"{path}, line {number}: sequence text before the first '>' header; is this a FASTA file?")
        else:
            parts[-1].append(b"".join(line.split()))
    if not names:
        raise DataError(f"{path}: no sequences (no '>' header lines)")
    return names, [b"".join(p) for p in parts]


def _parse_stockholm(raw: bytes, path: Path) -> tuple[list[str], list[bytes]]:
    parts: dict[bytes, list[bytes]] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        line = line.strip()
        if line.startswith(b"//"):
            break
        if not line or line.startswith(b"#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DataError(f"{path}, line {number}: expected 'name sequence', found {len(fields)} fields")
        parts.setdefault(fields[0], []).append(fields[1])
    if not parts:
        raise DataError(f"{path}: no sequences in the Stockholm alignment")
    return [name.decode("utf-8", "replace") for name in parts], [b"".join(p) for p in parts.values()]


def _encode(rows: list[bytes], names: list[str], table: np.ndarray, symbols: str, path: Path) -> np.ndarray:
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    if (lengths != lengths[0]).any():
        m = int(np.flatnonzero(lengths != lengths[0])[0])
        raise DataError(
            f"{path}: sequence {m} ({names[m]!r}, counted from 0) has {lengths[m]} aligned positions, "
            f"the first has {lengths[0]}; is this an aligned file (A3M insertions are lower case)?"
        )
    if lengths[0] == 0:
        raise DataError(f"{path}: the sequences have no aligned positions")
    codes = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), int(lengths[0]))
    states = table[codes]
    if (states < 0).any():
        m, i = (int(v) for v in np.argwhere(states < 0)[0])
        raise DataError(
            f"{path}: sequence {m} ({names[m]!r}) has {chr(codes[m, i])!r} at position {i} (both counted from 0), "
            f"not in the alphabet {symbols!r}; pass unknown='gap' or a symbol to map such symbols"
        )
    return states.astype(np.int32)


def _gap_fractions(states: np.ndarray, gap: int, option: str, axis: int) -> np.ndarray:
    if gap < 0:
        raise DataError(f"{option} needs a gap '-' in the alphabet")
    return (states == gap).mean(axis=axis)
