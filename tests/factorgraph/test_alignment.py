"""Alignments: the readers of every format, the weights, the filters and the errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import factorgraph as fg
from factorgraph import _alignment
from factorgraph.alignment import ALPHABETS, read_alignment, sequence_weights, write_fasta

BENCH_DATA = Path(__file__).parents[2] / "benchmarks" / "data" / "pf00014"


def test_pf00014_fasta_gives_back_the_numerical_file_and_its_weights():
    """The bundled FASTA read with the protein alphabet is the benchmark's numerical form
    exactly, and the 80%-identity weights are its weight file to the printed precision."""
    alignment = fg.datasets.load_pf00014()
    numerical = np.loadtxt(BENCH_DATA / "PF00014_numerical.txt", skiprows=1, dtype=np.int32)
    weights = np.loadtxt(BENCH_DATA / "PF00014_weights.txt")
    np.testing.assert_array_equal(alignment.states, numerical)
    assert np.max(np.abs(alignment.weights - weights)) < 1e-6
    assert alignment.alphabet == ALPHABETS["protein"] == "-ACDEFGHIKLMNPQRSTVWY"
    assert (alignment.n_sequences, alignment.length, alignment.n_states) == (4914, 53, 21)
    assert round(alignment.m_eff, 1) == 2051.2
    assert alignment.names[:2] == ("PF00014_seq1", "PF00014_seq2")  # headers numbered in file order
    np.testing.assert_array_equal(alignment.columns, np.arange(53))


# One small protein alignment in every format: three sequences, five match columns. The A2M
# and A3M forms carry insertions (lower case, '.' in A2M) that the readers drop; the Stockholm
# form comes in two blocks with annotations.
MATCH = {"s1": "AC-DE", "s2": "ACYDE", "s3": "-CYWE"}
FORMS = {
    "plain.fasta": ">s1\nAC-DE\n>s2\nAC\nYDE\n>s3\n-CYWE\n",
    "inserts.a3m": "#A3M header line\n>s1\nACkk-DE\n>s2\nACYDEg\n>s3\nm-CYWE\n",
    "inserts.a2m": ">s1\n.ACkk-DE.\n>s2\n.AC..YDEg\n>s3\nm-C..YWE.\n",
    "blocks.sto": (
        "# STOCKHOLM 1.0\n#=GF ID example\n#=GS s1 AC P00001\n\n"
        "s1 AC.-\ns2 ACyY\n#=GR s2 SS HH..\ns3 -C.Y\n#=GC SS_cons HHHH\n\n"
        "s1 DE\ns2 DE\ns3 WE\n//\n# a second alignment, not read\ns4 AAAAA\n//\n"
    ),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_format_gives_the_same_states(tmp_path, name):
    path = tmp_path / name
    path.write_text(FORMS[name])
    alignment = read_alignment(path, identity=None)
    letters = ALPHABETS["protein"]
    expected = np.array([[letters.index(c) for c in row] for row in MATCH.values()])
    np.testing.assert_array_equal(alignment.states, expected)
    assert alignment.names == tuple(MATCH)
    np.testing.assert_array_equal(alignment.weights, np.ones(3))


def test_format_is_found_from_the_content_and_gzip_from_the_magic_bytes(tmp_path):
    stockholm = tmp_path / "family.txt.gz"
    stockholm.write_bytes(gzip.compress(FORMS["blocks.sto"].encode()))
    a3m = tmp_path / "family.fas"
    a3m.write_text(FORMS["inserts.a3m"])  # lower case in a FASTA file: insertions
    plain = tmp_path / "plain.fasta"
    plain.write_text(FORMS["plain.fasta"])
    expected = read_alignment(plain).states
    for path in (stockholm, a3m):
        np.testing.assert_array_equal(read_alignment(path).states, expected)


def test_plain_fasta_keeps_lower_case_letters_as_residues(tmp_path):
    path = tmp_path / "lower.fasta"
    path.write_text(">a\nacgu\n>b\nACGU\n")
    alignment = read_alignment(path, "rna", format="fasta", identity=None)
    np.testing.assert_array_equal(alignment.states, [[1, 2, 3, 4], [1, 2, 3, 4]])


def test_unknown_symbols_map_to_the_gap_to_a_symbol_or_are_refused(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_text(">a\nACXZ-\n>b\nACDEF\n")
    gap = read_alignment(path, identity=None)
    np.testing.assert_array_equal(gap.states[0], [1, 2, 0, 0, 0])
    as_a = read_alignment(path, identity=None, unknown="A")
    np.testing.assert_array_equal(as_a.states[0], [1, 2, 1, 1, 0])
    with pytest.raises(fg.DataError, match=r"sequence 0 \('a'\) has 'X' at position 2.*unknown="):
        read_alignment(path, unknown="error")
    with pytest.raises(fg.DataError, match="one symbol of the alphabet"):
        read_alignment(path, unknown="B")


def test_a_file_all_in_lower_case_is_plain_fasta(tmp_path):
    path = tmp_path / "dna.fasta"
    path.write_text(">a\nacgt\n>b\nac-t\n")
    np.testing.assert_array_equal(read_alignment(path, "dna", identity=None).states, [[1, 2, 3, 4], [1, 2, 0, 4]])


def test_a_custom_alphabet_matches_letters_in_either_case(tmp_path):
    path = tmp_path / "spins.fasta"
    path.write_text(">a\nudUD\n>b\nDDUU\n")
    alignment = read_alignment(path, "DU", format="fasta", unknown="error", identity=None)
    np.testing.assert_array_equal(alignment.states, [[1, 0, 1, 0], [0, 0, 1, 1]])
    assert alignment.n_states == 2


def test_gap_filters_drop_columns_then_sequences(tmp_path):
    path = tmp_path / "gappy.fasta"
    path.write_text(">a\nA--CD\n>b\nA-ECD\n>c\n---C-\n>d\nAAECD\n")
    alignment = read_alignment(path, max_column_gap_fraction=0.5, max_gap_fraction=0.3)
    np.testing.assert_array_equal(alignment.columns, [0, 2, 3, 4])  # column 1 is 3/4 gaps
    assert alignment.names == ("a", "b", "d")  # c is 3/4 gaps over the kept columns
    assert alignment.states.shape == (3, 4)
    path.write_text(">a\nA-\n>b\n-A\n")
    with pytest.raises(fg.DataError, match="every sequence has more than 0 gaps; raise max_gap_fraction"):
        read_alignment(path, max_gap_fraction=0.0)
    with pytest.raises(fg.DataError, match="every column has more than 0 gaps; raise max_column_gap_fraction"):
        read_alignment(path, max_column_gap_fraction=0.0)
    with pytest.raises(fg.DataError, match="max_gap_fraction needs a gap"):
        read_alignment(path, "ACDE", max_gap_fraction=0.5, unknown="A")


@pytest.mark.parametrize("length", [1, 7, 64, 65, 130])
@pytest.mark.parametrize("identity", [0.0, 0.5, 0.8, 1.0])
def test_weights_equal_a_brute_force_count(length, identity):
    """Families of mutated copies (so that some pairs are near every threshold), against the
    pairwise count in numpy, on one and two threads; lengths around the 64-position checks."""
    rng = np.random.default_rng(length)
    centres = rng.integers(0, 21, (6, length))
    states = centres[rng.integers(0, 6, 150)]
    mutate = rng.random(states.shape) < rng.choice([0.0, 0.1, 0.25, 0.5], (150, 1))
    states = np.where(mutate, rng.integers(0, 21, states.shape), states)
    identical = (states[:, None, :] == states[None, :, :]).sum(axis=2)
    expected = 1.0 / (identical >= identity * length - 1e-9).sum(axis=1)
    for n_threads in (1, 2):
        np.testing.assert_array_equal(sequence_weights(states, identity, n_threads=n_threads), expected)
    # the plain code (8 bytes a word) counts as the vector code does
    need = int(np.ceil(round(identity * length, 9)))
    counts = _alignment.neighbour_counts(states.astype(np.uint8), length - need, 2, portable=True)
    np.testing.assert_array_equal(1.0 / counts, expected)


def test_the_identity_threshold_is_not_moved_by_rounding():
    """0.8 x 50 is 40 exactly: a pair with 40 identical positions of 50 counts."""
    a = np.zeros((2, 50), dtype=np.int32)
    a[1, :10] = 1
    np.testing.assert_array_equal(sequence_weights(a, 0.8), [0.5, 0.5])
    a[1, 10] = 1
    np.testing.assert_array_equal(sequence_weights(a, 0.8), [1.0, 1.0])


def test_write_fasta_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    states = rng.integers(0, 5, (20, 33))
    path = tmp_path / "sampled.fasta"
    write_fasta(path, states, "rna")
    alignment = read_alignment(path, "rna", unknown="error")
    np.testing.assert_array_equal(alignment.states, states)
    assert alignment.names[0] == "seq1"
    alignment.to_fasta(tmp_path / "again.fasta")
    assert (tmp_path / "again.fasta").read_text() == path.read_text()
    with pytest.raises(fg.DataError, match=r"states must lie in 0..4"):
        write_fasta(path, states + 1, "rna")
    with pytest.raises(fg.DataError, match="line break"):
        write_fasta(path, states[:1], "rna", names=["two\nlines"])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no sequences"),
        ("ACDE\n>a\nACDE\n", "line 1: sequence text before the first '>'"),
        (">a\nACDE\n>b\nACD\n", r"sequence 1 \('b', counted from 0\) has 3 aligned positions, the first has 4"),
        ("# STOCKHOLM 1.0\ns1 AC DE\n//\n", "line 2: expected 'name sequence', found 3 fields"),
        (">a\n\n>b\n\n", "no aligned positions"),
    ],
)
def test_damaged_files_are_refused_with_the_place(tmp_path, text, match):
    path = tmp_path / "bad.fasta"
    path.write_text(text)
    with pytest.raises(fg.DataError, match=match):
        read_alignment(path)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(fg.DataError, match="cannot read the alignment file"):
        read_alignment(tmp_path)  # a folder
    (tmp_path / "cut.fasta.gz").write_bytes(gzip.compress(b">a\nACDE\n")[:-6])
    with pytest.raises(fg.DataError, match="cannot read the alignment file"):
        read_alignment(tmp_path / "cut.fasta.gz")


def test_bad_arguments_are_refused():
    with pytest.raises(fg.DataError, match="no alignment file"):
        read_alignment("/nonexistent/family.fasta")
    with pytest.raises(fg.DataError, match="alphabet must be one of"):
        read_alignment("/nonexistent/family.fasta", alphabet="AAB")
    with pytest.raises(fg.DataError, match="format must be"):
        read_alignment(BENCH_DATA / "README.md", format="clustal")  # type: ignore[arg-type]
    with pytest.raises(fg.DataError, match="identity must be in"):
        sequence_weights(np.zeros((2, 3), dtype=int), 1.5)
