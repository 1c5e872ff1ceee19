"""factorgraph.datasets: the bundled UCI 8x8 digits (shapes, values, labels, copies)."""

import hashlib
from importlib import resources

import numpy as np
import pytest

from factorgraph.datasets import load_digits

# The first and last rows of scikit-learn's digits.csv.gz (64 pixels, then the label).
FIRST_ROW = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
    0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
    0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
]  # fmt: skip
FIRST_LABEL = 0
LAST_ROW = [
    0, 0, 10, 14, 8, 1, 0, 0, 0, 2, 16, 14, 6, 1, 0, 0, 0, 0, 15, 15, 8, 15, 0, 0,
    0, 0, 5, 16, 16, 10, 0, 0, 0, 0, 12, 15, 15, 12, 0, 0, 0, 4, 16, 6, 4, 16, 6, 0,
    0, 8, 16, 10, 8, 16, 8, 0, 0, 1, 8, 12, 14, 12, 1, 0,
]  # fmt: skip
LAST_LABEL = 8
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
RAW_SUM = 561718  # sum of all intensities in the csv
RAW_SHA256 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"  # C-order uint8 bytes


def test_data_file_is_a_package_resource():
    res = resources.files("factorgraph").joinpath("datasets_data").joinpath("digits.npz")
    assert res.is_file()
    with res.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["labels", "pixels"]
        assert npz["pixels"].dtype == np.uint8 and npz["labels"].dtype == np.uint8


def test_raw_shape_dtype_range_and_content():
    raw = load_digits(binarize=False)
    assert raw.shape == (1797, 64)
    assert raw.dtype == np.uint8
    assert raw.min() == 0 and raw.max() == 16
    assert int(raw.sum(dtype=np.int64)) == RAW_SUM
    assert hashlib.sha256(np.ascontiguousarray(raw).tobytes()).hexdigest() == RAW_SHA256


def test_known_pixels_and_labels_from_the_source_csv():
    raw, labels = load_digits(binarize=False, return_labels=True)
    assert raw[0].tolist() == FIRST_ROW
    assert raw[-1].tolist() == LAST_ROW
    assert labels[0] == FIRST_LABEL and labels[-1] == LAST_LABEL
    assert raw[0].reshape(8, 8)[0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]  # row-major 8x8


def test_labels_and_class_counts():
    X, labels = load_digits(return_labels=True)
    assert X.shape == (1797, 64)
    assert labels.shape == (1797,)
    assert labels.dtype == np.uint8
    assert set(labels.tolist()) == set(range(10))
    assert np.bincount(labels, minlength=10).tolist() == CLASS_COUNTS
    assert labels[:10].tolist() == list(range(10))


def test_binarize_default_is_raw_at_least_8():
    X = load_digits()
    raw = load_digits(binarize=False)
    assert X.dtype == np.uint8
    assert set(np.unique(X).tolist()) == {0, 1}
    np.testing.assert_array_equal(X, (raw >= 8).astype(np.uint8))
    assert X[0].tolist() == [int(v >= 8) for v in FIRST_ROW]
    assert int(X.sum()) == 37151


@pytest.mark.parametrize("threshold", [0.5, 1, 4.0, 12.5, 16])
def test_binarize_other_thresholds(threshold):
    X = load_digits(threshold=threshold)
    raw = load_digits(binarize=False)
    np.testing.assert_array_equal(X, (raw >= threshold).astype(np.uint8))


def test_threshold_extremes_and_nan():
    assert load_digits(threshold=0).all()
    assert not load_digits(threshold=17).any()
    with pytest.raises(ValueError, match="NaN"):
        load_digits(threshold=float("nan"))


def test_threshold_ignored_without_binarize():
    np.testing.assert_array_equal(load_digits(binarize=False, threshold=3), load_digits(binarize=False))


@pytest.mark.parametrize("binarize", [True, False])
def test_returned_arrays_are_independent_copies(binarize):
    X1, y1 = load_digits(binarize=binarize, return_labels=True)
    X2, y2 = load_digits(binarize=binarize, return_labels=True)
    assert X1.flags.writeable and y1.flags.writeable
    assert not np.shares_memory(X1, X2) and not np.shares_memory(y1, y2)
    before = X2.copy()
    X1[:] = 99
    y1[:] = 99
    np.testing.assert_array_equal(X2, before)
    X3, y3 = load_digits(binarize=binarize, return_labels=True)
    np.testing.assert_array_equal(X3, before)
    assert np.bincount(y3, minlength=10).tolist() == CLASS_COUNTS
