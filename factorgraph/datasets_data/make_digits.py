"""Rebuild ``digits.npz`` from the copy of the UCI digits data shipped with scikit-learn.

Source
------
The 8x8 handwritten-digit images (1797 images x 64 pixels, intensities 0..16, labels 0..9):
the test set of the UCI "Optical Recognition of Handwritten Digits" data set by
E. Alpaydin and C. Kaynak (1998), licensed by UCI under CC BY 4.0:
https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits
scikit-learn distributes it as ``sklearn/datasets/data/digits.csv.gz``: one
row per image, 64 pixel intensities (row-major 8x8) followed by the label, comma separated.
The committed ``digits.npz`` was built from the scikit-learn 1.9.1 wheel
(``digits.csv.gz`` sha256 09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22).

How to rerun
------------
scikit-learn is *not* a dependency; fetch its wheel once and pull out the one member::

    pip download --no-deps -d /tmp/skl scikit-learn
    unzip -o -d /tmp/skl /tmp/skl/scikit_learn-*.whl sklearn/datasets/data/digits.csv.gz
    python factorgraph/datasets_data/make_digits.py /tmp/skl/sklearn/datasets/data/digits.csv.gz

This writes ``digits.npz`` next to this script with two uint8 arrays, ``pixels``
(1797, 64) and ``labels`` (1797,), after checking shape, ranges and class counts.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np

EXPECTED_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)


def convert(csv_gz: Path, out: Path) -> None:
    """Read scikit-learn's ``digits.csv.gz``, check it and write the compressed ``.npz``."""
    raw = csv_gz.read_bytes()
    print(f"{csv_gz}: {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}")
    table = np.loadtxt(gzip.open(csv_gz, "rt"), delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise ValueError(f"expected 1797 rows of 65 values, got {table.shape}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > 16:
        raise ValueError("pixel intensities outside 0..16")
    counts = tuple(int(c) for c in np.bincount(labels, minlength=10))
    if counts != EXPECTED_COUNTS:
        raise ValueError(f"unexpected class counts {counts}")
    np.savez_compressed(out, pixels=pixels.astype(np.uint8), labels=labels.astype(np.uint8))
    print(f"wrote {out}: {out.stat().st_size} bytes; class counts {counts}")


def main(argv: list[str]) -> int:
    """Rebuild digits.npz from the path in ``argv[1]``; returns the exit status."""
    if len(argv) != 2:
        print(__doc__)
        print("usage: python make_digits.py PATH/TO/digits.csv.gz")
        return 2
    convert(Path(argv[1]), Path(__file__).with_name("digits.npz"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
