"""Files for the command line: models (TOML or fitted .npz), data sets, θ and samples.

The rules, documented in docs/cli.rst:

* A MODEL whose name ends in ``.npz`` is a fitted binary model (:func:`factorgraph.load`, the
  file ``g.save`` and ``factorgraph fit -o`` write); any other name is a TOML model file
  (:func:`factorgraph.load_spec`).
* DATA (and weights) come from ``.npy``, ``.npz`` (its one array, or the array named by
  ``--data-key``) or ``.csv``: comma-separated numbers, one row per sample; lines starting with
  ``#`` and blank lines are skipped, and a first line with a field that is not a number is a
  header and skipped too.
* θ (``--theta`` of ``sample``, THETA of ``check``) comes from a fitted ``.npz`` of the same
  model, a ``.npy`` or ``.csv`` as above, or a ``.txt`` of numbers separated by spaces or lines.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import DataError, ModelFileError
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from factorgraph.compiled import GraphLike
    from factorgraph.data import Units

__all__ = [
    "read_model",
    "read_array",
    "read_data",
    "read_weights",
    "read_theta",
    "check_model_path",
    "check_samples_path",
    "write_samples",
]

logger = logging.getLogger("factorgraph")

DATA_SUFFIXES = (".npy", ".npz", ".csv")


def is_binary_model(path: str) -> bool:
    """The MODEL rule: a ``.npz`` name is a fitted binary model; anything else is TOML."""
    return Path(path).suffix.lower() == ".npz"


def read_model(path: str) -> tuple[Any, Any, np.ndarray | None]:
    """``(spec, graph, theta)``: spec is None for a fitted .npz, theta None for a TOML file."""
    import factorgraph as fg

    if is_binary_model(path):
        graph, theta = fg.load(path)
        return None, graph, theta
    spec = fg.load_spec(path)
    return spec, spec.graph, None


def _readable(path: str, what: str) -> Path:
    file = Path(path)
    if not file.exists():
        raise DataError(f"{path}: no such {what} file.")
    if file.is_dir():
        raise DataError(f"{path}: is a folder; expected a {what} file ({', '.join(DATA_SUFFIXES)}).")
    return file


def read_array(path: str, what: str = "data", key: str | None = None) -> np.ndarray:
    """An array from a .npy, .npz or .csv file, with messages that name the file."""
    file = _readable(path, what)
    suffix = file.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise DataError(f"{path}: unknown {what} file type {suffix or '(none)'!r}; expected .npy, .npz or .csv.")
    if key is not None and suffix != ".npz":
        raise DataError(f"{path}: --data-key applies to .npz files only.")
    try:
        if suffix == ".csv":
            return _read_csv(file, what)
        loaded = np.load(file, allow_pickle=False)
    except ValueError as exc:  # object arrays (pickle refused) or a damaged file
        raise DataError(f"{path}: cannot read the {what} file: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: cannot read the {what} file: {exc}") from None
    if suffix == ".npy":
        return loaded
    with loaded:
        names = list(loaded.files)
        if "header" in names and "var_domain" in names:
            raise DataError(f"{path}: this is a fitted model file, not {what}; pass it as MODEL.")
        if key is None:
            if len(names) != 1:
                raise DataError(
                    f"{path}: the archive holds {len(names)} arrays {names}; choose one with --data-key NAME."
                )
            key = names[0]
        if key not in names:
            raise DataError(f"{path}: no array named {key!r}; the archive holds {names}.")
        return loaded[key]


def _read_csv(file: Path, what: str) -> np.ndarray:
    """Comma-separated numbers; a first line with a non-numeric field is a header."""
    text = file.read_text(encoding="utf-8-sig")
    lines = [
        (i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip() and not line.lstrip().startswith("#")
    ]
    if lines and not all(_is_number(field) for field in lines[0][1].split(",")):
        logger.debug("%s: line %d is a header: %s", file, lines[0][0], lines[0][1].strip())
        lines = lines[1:]
    if not lines:
        raise DataError(f"{file}: the {what} file has no rows.")
    try:
        return np.loadtxt(io.StringIO("\n".join(line for _, line in lines)), delimiter=",", ndmin=2)
    except ValueError:
        pass
    width = len(lines[0][1].split(","))
    for number, line in lines:  # find the offending cell, for a message that names it
        fields = line.split(",")
        if len(fields) != width:
            raise DataError(f"{file}: line {number} has {len(fields)} fields; the first row has {width}.") from None
        for column, field in enumerate(fields):
            if not _is_number(field):
                raise DataError(
                    f"{file}: line {number}, column {column} (lines counted from 1, columns from 0): "
                    f"expected a number; found {field.strip()!r}."
                ) from None
    raise DataError(f"{file}: cannot read the {what} file as comma-separated numbers.")


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def read_data(path: str, graph: Any, key: str | None = None, units: Units = "auto") -> np.ndarray:
    """State indices, shape (N, n_variables), from a file of state indices or of the variables'
    values (``units``, as in :func:`factorgraph.data.as_states`), checked against the domains.

    Rows and columns in messages count from 0, as in Python and in every message of the library
    (data rows: a CSV header or comment is not one); only file lines count from 1.
    """
    from factorgraph.data import as_states

    array = read_array(path, "data", key)
    n_states = np.asarray(graph.n_states)
    n = len(n_states)
    if array.dtype.kind not in "iubf":
        raise DataError(f"{path}: expected numbers (state indices or values); found dtype {array.dtype}.")
    if array.ndim == 1 and n == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n:
        raise DataError(
            f"{path}: expected an array of shape (N, {n}), one row per sample and one column "
            f"per variable of the model; found shape {array.shape}."
        )
    try:
        return as_states(graph, array, "factorgraph", units=units)
    except DataError as exc:
        failure = exc
    if units != "values":  # the faults of the state-index reading, placed in the file
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.any(array != np.round(array)):
            row, col = np.argwhere(array != np.round(array))[0]
            raise DataError(
                f"{path}: row {row}, column {col} (counted from 0): expected an integer state index or one of "
                f"the variable's values; found {array[row, col]:g}."
            )
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            row, col = np.argwhere(~np.isfinite(array))[0]
            raise DataError(
                f"{path}: row {row}, column {col} (counted from 0): expected a state index; found {array[row, col]}."
            )
        bad = (array < 0) | (array >= n_states[None, :])
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise DataError(
                f"{path}: row {row}, column {col} (counted from 0): state {array[row, col]:g} is out of range; "
                f"that variable has states 0..{n_states[col] - 1} (and its values are not the file's either)."
            )
    raise DataError(f"{path}: {failure}")


def read_weights(path: str, n_rows: int) -> np.ndarray:
    """Sample weights, shape (n_rows,)."""
    array = read_array(path, "weights")
    if array.ndim == 2 and 1 in array.shape:
        array = array.ravel()
    if array.ndim != 1 or len(array) != n_rows or array.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: expected {n_rows} numbers (one weight per data row); found an array of shape "
            f"{array.shape} and dtype {array.dtype}."
        )
    return array.astype(np.float64)


def read_theta(path: str, graph: GraphLike) -> np.ndarray:
    """θ from a fitted .npz model (same feature layout), or a .npy/.csv/.txt vector."""
    if is_binary_model(path):
        import factorgraph as fg

        other, theta = fg.load(path)
        if theta is None:
            raise ModelFileError(f"{path}: the model file holds no θ (saved without theta=).")
        if other.compile().fingerprint() != as_compiled(graph).fingerprint():
            raise DataError(f"{path}: θ belongs to another model (its graph differs from MODEL's).")
        return theta
    text = Path(path).suffix.lower() == ".txt"
    theta = (_read_txt(path, "theta") if text else read_array(path, "theta")).ravel()
    if len(theta) != graph.n_features or theta.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: expected {graph.n_features} numbers (θ in feature order); found "
            f"{theta.size} of dtype {theta.dtype}."
        )
    return theta.astype(np.float64)


def _read_txt(path: str, what: str) -> np.ndarray:
    """Whitespace-separated numbers (one a line, or several); lines starting with # are skipped."""
    file = _readable(path, what)
    try:
        return np.loadtxt(file, comments="#", ndmin=1).ravel()
    except ValueError as exc:
        raise DataError(f"{path}: cannot read the {what} file as numbers separated by spaces or lines: {exc}") from None


def check_samples_path(path: str) -> str:
    """The output format, ``".npy"`` or ``".csv"``, from the file name (checked before sampling)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise DataError(f"{path}: cannot write samples as {suffix or '(no extension)'!r}; name the file .npy or .csv.")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise DataError(f"{path}: the folder {folder} does not exist.")
    return suffix


def check_model_path(path: str) -> None:
    """An output model name ends in .npz (the MODEL rule) and its folder exists (checked before fitting)."""
    if not is_binary_model(path):
        raise DataError(f"{path}: a fitted model is written as .npz; name the file something.npz.")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise DataError(f"{path}: the folder {folder} does not exist.")


def write_samples(path: str, samples: np.ndarray) -> None:
    """Write samples as .npy or .csv (chosen by the name), via a temporary file and a rename."""
    suffix = check_samples_path(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            if suffix == ".npy":
                np.save(fh, samples, allow_pickle=False)
            else:
                np.savetxt(fh, samples, fmt="%d", delimiter=",")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
