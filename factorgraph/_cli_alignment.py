"""The command line's protein and RNA workflow: ``fit`` on an alignment file, and ``contacts``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from factorgraph._errors import DataError

logger = logging.getLogger("factorgraph.cli")

ALIGNMENT_SUFFIXES = (
    ".fasta",
    ".fa",
    ".fas",
    ".faa",
    ".fna",
    ".aln",
    ".a2m",
    ".a3m",
    ".sto",
    ".stk",
    ".sth",
    ".stockholm",
)


def is_alignment(path: str) -> bool:
    """The MODEL rule for alignments: a FASTA, A2M/A3M or Stockholm name, gzipped or not."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() != ".gz"]
    return bool(suffixes) and suffixes[-1] in ALIGNMENT_SUFFIXES


def alignment_inputs(args: argparse.Namespace) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(spec, states, weights)`` for ``factorgraph fit ALIGNMENT``: the Potts model of the
    alignment and its reweighted sequences."""
    import factorgraph as fg
    from factorgraph.alignment import read_alignment
    from factorgraph.potts import potts_model_file

    if args.data is not None or args.weights is not None:
        raise DataError(
            f"{args.model} is an alignment: its sequences are the data and their weights come from "
            "--identity; drop the DATA file and --weights."
        )
    alignment = read_alignment(args.model, args.alphabet, identity=args.identity, n_threads=args.threads)
    pseudocount = args.pseudocount if args.pseudocount is not None else 1.0 / alignment.m_eff
    logger.info(
        "alignment: %d sequences x %d positions, q = %d, M_eff = %.1f; pseudocount %.3g",
        alignment.n_sequences,
        alignment.length,
        alignment.n_states,
        alignment.m_eff,
        pseudocount,
    )
    text = potts_model_file(alignment.length, alignment.n_states, pseudocount)
    spec = fg.parse_spec(text, source=str(args.model))
    return spec, alignment.states, alignment.weights


def run_contacts(args: argparse.Namespace, out: TextIO) -> int:
    """Rank the pairs of sites of a fitted Potts model by contact score; print or write them."""
    import factorgraph as fg
    from factorgraph.potts import contact_scores

    if not args.fitted.lower().endswith(".npz"):
        raise DataError(f"{args.fitted}: 'contacts' needs a fitted model (.npz), as 'factorgraph fit -o' writes.")
    graph, theta = fg.load(args.fitted)
    if theta is None:
        raise DataError(f"{args.fitted}: the file holds no fitted theta.")
    gap = None if args.gap == "none" else int(args.gap)
    contacts = contact_scores(graph, theta, gap=gap, apc=not args.no_apc)
    if args.out:
        contacts.write(args.out)
        print(f"wrote {len(contacts)} pairs, best first, to {args.out} (sites counted from 0)", file=out)
        return 0
    top = contacts.top(args.top if args.top is not None else contacts.length, args.min_separation)
    print("i\tj\tscore\t(sites counted from 0)", file=out)
    for (i, j), score in zip(top.pairs.tolist(), top.scores.tolist()):
        print(f"{i}\t{j}\t{score:.6g}", file=out)
    return 0
