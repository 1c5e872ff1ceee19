"""Reading a large alignment: parsing and encoding, and the 80%-identity sequence weights.

A synthetic protein family (default 100,000 sequences of 300 positions, the size the issue
asks for) is written as aligned FASTA: mutated copies of 2,000 ancestors, each copy with a
mutation rate of 5%, 15%, 30% or 50%, so that the neighbour counts range from one to
hundreds, as in real families. Prints the time to read it without weights, and the time of
:func:`factorgraph.alignment.sequence_weights` on 1 and 2 threads. The baseline, run in the
same process on the first ``--baseline`` sequences, is the same count in numpy (blocks of
rows against all rows: the pairwise identity as a broadcast comparison), and the weights of
both are checked equal there.

Run:  python benchmarks/bench_alignment.py [--sequences 100000] [--length 300] [--baseline 3000]
"""

from __future__ import annotations

import argparse
import math
import pathlib
import tempfile
import time

import numpy as np

from factorgraph.alignment import ALPHABETS, read_alignment, sequence_weights, write_fasta


def family(n: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ancestors = rng.integers(1, 21, (2000, length), dtype=np.int8)
    states = ancestors[rng.integers(0, len(ancestors), n)]
    rate = rng.choice([0.05, 0.15, 0.3, 0.5], (n, 1))
    return np.where(rng.random((n, length)) < rate, rng.integers(0, 21, (n, length), dtype=np.int8), states)


def numpy_weights(states: np.ndarray, identity: float, block: int = 64) -> np.ndarray:
    length = states.shape[1]
    need = math.ceil(round(identity * length, 9))
    counts = np.zeros(len(states), dtype=np.int64)
    for start in range(0, len(states), block):
        rows = states[start : start + block]
        counts[start : start + block] = ((rows[:, None, :] == states[None, :, :]).sum(axis=2) >= need).sum(axis=1)
    return 1.0 / counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--baseline", type=int, default=3000)
    args = parser.parse_args()
    states = family(args.sequences, args.length)
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "family.fasta"
        write_fasta(path, states, "protein")
        size = path.stat().st_size / 2**20
        start = time.perf_counter()
        alignment = read_alignment(path, identity=None)
        read = time.perf_counter() - start
    assert np.array_equal(alignment.states, states)
    q = len(ALPHABETS["protein"])
    print(f"{args.sequences} sequences x {args.length} positions ({size:.0f} MiB of FASTA), q = {q}")
    print(f"read and encode, no weights: {read:.2f} s ({args.sequences / read:,.0f} sequences/s)")
    for threads in (1, 2):
        start = time.perf_counter()
        weights = sequence_weights(states, 0.8, n_threads=threads)
        took = time.perf_counter() - start
        pairs = args.sequences * (args.sequences - 1) / 2
        print(
            f"weights at 80% identity, {threads} thread(s): {took:.2f} s ({pairs / took / 1e6:,.0f} M pairs/s), "
            f"M_eff = {weights.sum():.1f}"
        )
    small = states[: args.baseline]
    start = time.perf_counter()
    expected = numpy_weights(small, 0.8)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    ours = sequence_weights(small, 0.8, n_threads=1)
    took = time.perf_counter() - start
    assert np.array_equal(ours, expected)
    print(
        f"baseline, first {args.baseline} sequences: numpy {baseline:.2f} s, ours (1 thread) {took:.3f} s, "
        f"ratio {baseline / took:.0f}x (same weights)"
    )


if __name__ == "__main__":
    main()
