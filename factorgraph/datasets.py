"""Small real data sets bundled with the package.

:func:`load_digits` gives the 8x8 handwritten-digit images (1797 images of 64 pixels with
intensities 0..16, labels 0..9): the test set of the UCI "Optical Recognition of Handwritten
Digits" data set by E. Alpaydin and C. Kaynak (1998), which UCI distributes under the
Creative Commons Attribution 4.0 International licence (CC BY 4.0),
https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits.
The bundled copy is converted, unchanged, from the one distributed with scikit-learn
(``sklearn/datasets/data/digits.csv.gz``); ``factorgraph/datasets_data/make_digits.py``
records how and rebuilds it.

:func:`load_pf00014` gives the PF00014 (Kunitz/BPTI domain) protein-family alignment, 4,914
sequences of 53 aligned positions, a standard benchmark of Potts-model fitting: Pfam data
(released under CC0) as distributed in the example folder of the bmDCA project, bundled as
an aligned FASTA file. :func:`read_alignment` (from :mod:`factorgraph.alignment`) reads
alignment files of one's own.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from typing import Any, Literal, overload

import numpy as np

from factorgraph.alignment import Alignment, read_alignment

__all__ = ["load_digits", "digits_ising", "load_pf00014", "read_alignment"]

_N_IMAGES = 1797
_N_PIXELS = 64


@cache
def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled arrays (read once; callers must copy before handing them out)."""
    source = resources.files("factorgraph").joinpath("datasets_data").joinpath("digits.npz")
    with source.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        pixels = np.asarray(npz["pixels"], dtype=np.uint8)
        labels = np.asarray(npz["labels"], dtype=np.uint8)
    if pixels.shape != (_N_IMAGES, _N_PIXELS) or labels.shape != (_N_IMAGES,):
        raise RuntimeError(f"corrupt digits.npz: pixels {pixels.shape}, labels {labels.shape}")
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


@overload
def load_digits(binarize: bool = ..., threshold: float = ..., return_labels: Literal[False] = ...) -> np.ndarray: ...
@overload
def load_digits(
    binarize: bool = ..., threshold: float = ..., *, return_labels: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def load_digits(binarize: bool, threshold: float, return_labels: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...


def load_digits(
    binarize: bool = True, threshold: float = 8.0, return_labels: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The 8x8 handwritten digits (UCI, Alpaydin & Kaynak 1998, CC BY 4.0).

    Parameters
    ----------
    binarize : bool, default True
        If True, return binary state indices (pixel ``>= threshold`` is 1, else 0), ready to
        use as data for a graph of 64 binary variables; if False, the raw intensities 0..16.
    threshold : float, default 8.0
        Cut-off for ``binarize=True``; the default is half of the 0..16 intensity range.
        Ignored when ``binarize=False``.
    return_labels : bool, default False
        If True, also return the digit shown in each image.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype uint8
        One row per image, pixels in row-major order (``X[i].reshape(8, 8)`` is the image).
        0/1 if ``binarize`` else intensities 0..16.
    labels : ndarray of shape (1797,), dtype uint8
        Digits 0..9; only returned when ``return_labels=True``.

    Notes
    -----
    Every call returns fresh arrays, so modifying them does not affect later calls.

    Examples
    --------
    >>> from factorgraph.datasets import load_digits
    >>> X, y = load_digits(return_labels=True)
    >>> X.shape, X.dtype, sorted(set(X.ravel().tolist()))
    ((1797, 64), dtype('uint8'), [0, 1])
    >>> y[:10].tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> raw = load_digits(binarize=False)
    >>> raw[0, :8].tolist()
    [0, 0, 5, 13, 9, 1, 0, 0]
    >>> X[0, :8].tolist()
    [0, 0, 0, 1, 1, 0, 0, 0]
    """
    pixels, labels = _read_digits()
    if binarize:
        threshold = float(threshold)
        if math.isnan(threshold):
            raise ValueError("threshold must not be NaN")
        X = (pixels >= threshold).astype(np.uint8)
    else:
        X = pixels.copy()
    if return_labels:
        return X, labels.copy()
    return X


def digits_ising() -> tuple[Any, np.ndarray]:
    """The main job's model and data: a pairwise (Ising) model of the binarised digits.

    64 binary pixels (states 0 and 1), a ``Product`` group ``"fields"`` (one feature per pixel)
    and a ``Product`` group ``"pairs"`` on every pair i < j (in ``np.triu_indices`` order):
    2,080 features, every first and second moment.

    Returns
    -------
    graph : FactorGraph
    data : ndarray of shape (1797, 64)
        The images binarised at half intensity (:func:`load_digits` with ``binarize=True``).

    Examples
    --------
    >>> import factorgraph as fg
    >>> g, data = fg.datasets.digits_ising()
    >>> g.n_features, data.shape
    (2080, (1797, 64))
    """
    from factorgraph import features
    from factorgraph.graph import FactorGraph

    data = load_digits()
    g = FactorGraph()
    pixels = g.add_variables(data.shape[1])
    g.add_features(features.Product(pixels), name="fields")
    i, j = np.triu_indices(data.shape[1], k=1)
    g.add_features(features.Product(np.stack([i, j], axis=1)), name="pairs")
    return g, data


def load_pf00014(identity: float | None = 0.8, *, n_threads: int | None = None) -> Alignment:
    """The PF00014 protein-family alignment (Kunitz/BPTI domain), read with the protein alphabet.

    Parameters
    ----------
    identity : float or None
        The sequence weights' identity threshold (:func:`read_alignment`); None gives unit
        weights.
    n_threads : int or None
        Threads of the weight computation (None: every core).

    Returns
    -------
    Alignment
        4,914 sequences x 53 positions, q = 21 (gap first: ``-ACDEFGHIKLMNPQRSTVWY``);
        M_eff = 2051.2 with the default 80% identity weights.

    Examples
    --------
    >>> import factorgraph as fg
    >>> fg.datasets.load_pf00014()
    Alignment(4914 sequences x 53 positions, q = 21, M_eff = 2051.2 (identity 0.8))
    """
    with resources.as_file(resources.files("factorgraph") / "datasets_data" / "PF00014.fasta.gz") as path:
        return read_alignment(path, "protein", identity=identity, n_threads=n_threads)
