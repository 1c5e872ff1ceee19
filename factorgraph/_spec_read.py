"""Reading values out of a parsed model file: typed keys, arrays inline or from files, and
errors that name the file, the key path, what was expected and what was found."""

from __future__ import annotations

import copy
import datetime
import difflib
import math
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factorgraph._errors import FactorGraphError, ModelSpecFileError

__all__ = ["Source", "MISSING", "describe", "join", "suggest"]

#: The deepest nesting of arrays a model file may use (a Table of arity 24 needs 25).
MAX_DEPTH = 32
#: Integers in arrays must lie within ± this bound (they are stored as int64 or float64).
MAX_INT = 2**62

MISSING = object()  # marks a key with no default: it must be present
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def join(path: str, key: str | int) -> str:
    """The key path of ``key`` inside ``path``: ``features[2]`` + ``scopes``, or + ``3``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = key if _BARE_KEY.match(key) else repr(key)
    return f"{path}.{name}" if path else name


def describe(value: object) -> str:
    """Name a parsed TOML value by its type and (shortened) content, for 'found ...'."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}" if abs(value) < 10**15 else "a very large integer"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    if isinstance(value, list):
        text = repr(value) if len(value) <= 8 else ""
        if text and len(text) <= 40:
            return f"the array {text}"
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, Mapping):
        keys = [str(k) for k in list(value)[:6]]
        return f"a table with keys {keys}" if keys else "an empty table"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return f"the date/time {value.isoformat()}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def suggest(word: object, options: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest option (case-insensitive first), or ''."""
    options = list(options)
    if not isinstance(word, str):
        return ""
    lowered = {o.lower().replace("-", "_"): o for o in options}
    exact = lowered.get(word.lower().replace("-", "_"))
    close = [exact] if exact else difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


@dataclass(frozen=True)
class Source:
    """Where a document came from: the name that starts every message, and the folder that
    relative file paths resolve against."""

    name: str
    base_dir: Path

    # -- errors --------------------------------------------------------------------------------

    def error(self, path: str, text: str) -> ModelSpecFileError:
        """An error about the value at ``path`` (empty: the whole document)."""
        return ModelSpecFileError(f"{self.name}: {path}: {text}" if path else f"{self.name}: {text}")

    def expected(self, path: str, expected: str, value: object, fix: str = "") -> ModelSpecFileError:
        """The standard 'expected ...; found ...' error."""
        text = f"expected {expected}; found {describe(value)}."
        return self.error(path, f"{text} {fix}" if fix else text)

    def wrap(self, path: str, exc: FactorGraphError) -> FactorGraphError:
        """``exc`` with the file and key path put in front of its message, same class."""
        prefix = f"{self.name}: {path}: " if path else f"{self.name}: "
        try:
            wrapped = copy.copy(exc)
            wrapped.args = (prefix + str(exc),) + tuple(exc.args[1:])
        except Exception:  # an exception that does not copy: fall back on our own class
            wrapped = ModelSpecFileError(prefix + str(exc))
        return wrapped.with_traceback(exc.__traceback__)

    # -- tables and keys -----------------------------------------------------------------------

    def check_keys(
        self, table: Mapping, path: str, allowed: Iterable[str], required: Iterable[str] = (), what: str = "here"
    ) -> None:
        """Refuse unknown keys (with a suggestion) and missing required ones."""
        allowed = list(allowed)
        for key in table:
            if key not in allowed:
                raise self.error(
                    join(path, key),
                    f"unknown key.{suggest(key, allowed)} The keys allowed {what} are: {', '.join(allowed)}.",
                )
        for key in required:
            if key not in table:
                raise self.error(path, f"missing key '{key}' (required {what}).")

    def table(self, value: object, path: str) -> Mapping:
        """``value`` must be a table."""
        if not isinstance(value, Mapping):
            raise self.expected(path, "a table", value)
        return value

    def tables(self, document: Mapping, key: str, path: str = "") -> list[Mapping]:
        """An array of tables (``[[key]]``), empty when absent."""
        value = document.get(key, [])
        where = join(path, key)
        if not isinstance(value, list):
            raise self.expected(where, f"an array of tables ([[{key}]] sections)", value)
        for i, item in enumerate(value):
            self.table(item, join(where, i))
        return value

    # -- scalars -------------------------------------------------------------------------------

    def get(self, table: Mapping, key: str, path: str, default: Any = MISSING) -> Any:
        if key not in table:
            if default is MISSING:
                raise self.error(path, f"missing key '{key}'.")
            return default
        return table[key]

    def integer(
        self,
        table: Mapping,
        key: str,
        path: str,
        default: Any = MISSING,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        """An integer key, optionally bounded."""
        value = self.get(table, key, path, default)
        if key not in table:
            return value
        bounds = " and ".join(
            t for t in (minimum is not None and f">= {minimum}", maximum is not None and f"<= {maximum}") if t
        )
        expected = f"an integer {bounds}" if bounds else "an integer"
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or ((minimum is not None and value < minimum) or (maximum is not None and value > maximum))
        ):
            raise self.expected(join(path, key), expected, value)
        return value

    def number(
        self, table: Mapping, key: str, path: str, default: Any = MISSING, check=None, expected: str = "a finite number"
    ) -> Any:
        """A real number key (integers are accepted), finite and passing ``check``."""
        value = self.get(table, key, path, default)
        if key not in table:
            return value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not _finite(value)
            or (check is not None and not check(float(value)))
        ):
            raise self.expected(join(path, key), expected, value)
        return float(value)

    def boolean(self, table: Mapping, key: str, path: str, default: Any = MISSING) -> Any:
        value = self.get(table, key, path, default)
        if key in table and not isinstance(value, bool):
            raise self.expected(join(path, key), "true or false", value)
        return value

    def string(self, table: Mapping, key: str, path: str, default: Any = MISSING) -> Any:
        value = self.get(table, key, path, default)
        if key in table and not isinstance(value, str):
            raise self.expected(join(path, key), "a string", value)
        return value

    def choice(self, table: Mapping, key: str, path: str, options: Iterable[str], default: Any = MISSING) -> Any:
        """A string key that must be one of ``options``."""
        options = list(options)
        value = self.string(table, key, path, default)
        if key in table and value not in options:
            raise self.expected(join(path, key), f"one of {options}", value, suggest(value, options).strip())
        return value

    # -- arrays --------------------------------------------------------------------------------

    def array(
        self, value: Any, path: str, integer: bool = False, scalar: bool = True, vector: bool = False
    ) -> np.ndarray | int | float:
        """An array given inline (nested arrays) or as ``{ file = "x.npy" }``, or a bare number.

        ``integer`` asks for int64 values; ``scalar`` allows a bare number (returned as a Python
        int or float); ``vector`` flattens a one-row or one-column CSV file to 1-D.
        """
        kind = "integers" if integer else "numbers"
        if isinstance(value, Mapping):
            return self.file_array(value, path, integer, vector)
        if isinstance(value, list):
            return self.inline_array(value, path, integer)
        if scalar and _is_number(value, integer):
            return int(value) if integer else float(value)
        forms = ("a number, " if scalar else "") + f'an array of {kind} or {{ file = "name.npy" }}'
        raise self.expected(path, forms, value)

    def inline_array(self, value: list, path: str, integer: bool) -> np.ndarray:
        """A rectangular nested array of numbers (integers when ``integer``)."""
        self._shape(value, path, integer, 0)
        return np.array(value, dtype=np.int64 if integer else np.float64)

    def _shape(self, value: object, path: str, integer: bool, depth: int) -> tuple[int, ...]:
        if isinstance(value, list):
            if depth >= MAX_DEPTH:
                raise self.error(path, f"arrays are nested more than {MAX_DEPTH} deep.")
            shapes = {self._shape(item, join(path, i), integer, depth + 1) for i, item in enumerate(value)}
            if len(shapes) > 1:
                raise self.error(
                    path,
                    f"expected a rectangular array; found items of different shapes "
                    f"{sorted(shapes, key=len)[:3]} (an item and an array, or rows of different "
                    "lengths).",
                )
            return (len(value), *(shapes.pop() if shapes else ()))
        if not _is_number(value, integer):
            raise self.expected(path, "an integer" if integer else "a number", value)
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise self.expected(path, "an integer of magnitude at most 2**62", value)
        return ()

    def file_array(self, table: Mapping, path: str, integer: bool, vector: bool) -> np.ndarray:
        """Read ``{ file = "name.npy" | "name.csv" }`` relative to the model file's folder."""
        self.check_keys(table, path, ("file",), required=("file",), what="in a file reference")
        name = self.string(table, "file", path)
        where = join(path, "file")
        file = self.base_dir / name
        suffix = file.suffix.lower()
        if suffix not in (".npy", ".csv"):
            raise self.expected(where, "the name of a .npy or .csv file", name)
        try:
            array = _read_npy(file) if suffix == ".npy" else _read_csv(file)
        except FileNotFoundError:
            raise self.error(where, f"file '{name}' not found (looked for {file.absolute()}).") from None
        except Exception as exc:  # any failure to read or decode a user's file is reported, not raised raw
            raise self.error(where, f"cannot read '{name}': {exc}") from None
        return self._checked_file_array(array, name, where, integer, vector, suffix == ".csv")

    def _checked_file_array(
        self, array: np.ndarray, name: str, where: str, integer: bool, vector: bool, csv: bool
    ) -> np.ndarray:
        kinds = "iu" if integer else "iuf"
        if (
            array.dtype.kind == "f"
            and integer
            and csv
            and np.all(np.isfinite(array))
            and np.all(array == np.round(array))
        ):
            array = array.astype(np.int64)
        if array.dtype.kind not in kinds:
            want = "integers" if integer else "real numbers"
            raise self.error(where, f"expected {want} in '{name}'; found dtype {array.dtype}.")
        if integer and array.size and np.abs(array).max() > MAX_INT:
            raise self.error(where, f"'{name}' holds integers beyond 2**62.")
        if csv and vector and array.ndim == 2 and 1 in array.shape:
            array = array.ravel()
        return np.ascontiguousarray(array, dtype=np.int64 if integer else np.float64)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _is_number(value: object, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, int | float)


def _read_npy(file: Path) -> np.ndarray:
    """A plain array from a .npy file (no pickled objects)."""
    array = np.load(file, allow_pickle=False)
    if not isinstance(array, np.ndarray):  # e.g. an .npz archive renamed to .npy
        raise ValueError("it is not a single .npy array")
    return np.asarray(array)


def _read_csv(file: Path) -> np.ndarray:
    """A 2-D array of numbers from comma-separated text; lines starting with '#' are comments."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns about an empty file; it is refused below
        array = np.loadtxt(file, delimiter=",", comments="#", ndmin=2, dtype=np.float64)
    if array.size == 0:
        raise ValueError("it holds no numbers")
    return array
