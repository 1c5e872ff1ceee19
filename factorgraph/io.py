"""Model files: a versioned ``.npz`` of plain arrays plus a JSON header, written atomically.

Layout (format version 1): the npz holds ``header`` (UTF-8 JSON as uint8), the variables'
``var_domain``, ``domain_values``, ``domain_ptr``, ``domain_edges`` and ``edges_ptr``, the table
pools with their layouts, each group's arrays as ``group{i}.scopes``, ``group{i}.table_offset``,
``group{i}.n_per_row`` and ``group{i}.theta_init``, and ``theta`` when one was saved. The header
names the format and library version, each group's name, kind, form and trainable flag, the
variable names and a SHA-256 of every array, checked on load. No pickle is involved: Function
groups are stored as their tables.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph._errors import ModelFileError
from factorgraph._parts import FeatureGroup, GraphParts
from factorgraph._pool import TablePool
from factorgraph._validation import check_theta
from factorgraph._version import __version__
from factorgraph.variables import Domain

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


__all__ = ["save_model", "read_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "factorgraph-maxent model"
FORMAT_VERSION = 1


def _json_param(value: Any) -> Any:
    """A kind's parameter for the header: small arrays in full, large ones by shape only."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array of shape {list(value.shape)}>"
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def save_model(parts: GraphParts, path: str | os.PathLike, theta: ArrayLike | None = None) -> None:
    """Write a graph's parts (and θ) to ``path``; see :meth:`FactorGraph.save`."""
    arrays: dict[str, np.ndarray] = {}
    domains = parts.domains
    arrays["var_domain"] = parts.var_domain
    arrays["domain_values"] = np.concatenate([d.values for d in domains]) if domains else np.zeros(0)
    arrays["domain_ptr"] = np.cumsum([0] + [d.n_states for d in domains]).astype(np.int64)
    edges = [d.edges if d.edges is not None else np.zeros(0) for d in domains]
    arrays["domain_edges"] = np.concatenate(edges) if edges else np.zeros(0)
    arrays["edges_ptr"] = np.cumsum([0] + [len(e) for e in edges]).astype(np.int64)
    for name, pool in (("tables", parts.tables), ("maps", parts.maps)):
        arrays[name] = pool.joined()
        arrays[f"{name}_layout"] = np.stack(pool.layout()) if pool.n_tables else np.zeros((2, 0), np.int64)
    groups = []
    for i, grp in enumerate(parts.groups):
        arrays[f"group{i}.scopes"] = grp.scopes
        arrays[f"group{i}.table_offset"] = grp.table_offset
        arrays[f"group{i}.n_per_row"] = grp.n_per_row
        arrays[f"group{i}.theta_init"] = np.atleast_1d(np.asarray(grp.theta_init, dtype=np.float64))
        groups.append(
            {
                "name": grp.name,
                "kind": grp.kind,
                "form": grp.form,
                "trainable": grp.trainable,
                "theta_init_scalar": not isinstance(grp.theta_init, np.ndarray),
                "params": {k: _json_param(v) for k, v in grp.params.items()},
            }
        )
    if theta is not None:
        arrays["theta"] = check_theta(theta, parts.n_features, "FactorGraph.save")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "n_variables": parts.n_variables,
        "n_features": parts.n_features,
        "variable_names": list(parts.names),
        "groups": groups,
        "sha256": {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in arrays.items()},
    }
    text = json.dumps(header).encode()
    arrays["header"] = np.frombuffer(text, dtype=np.uint8)
    arrays["header_sha256"] = np.frombuffer(hashlib.sha256(text).hexdigest().encode(), dtype=np.uint8)
    _atomic_write(path, arrays)


def _atomic_write(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, allow_pickle=False, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_model(path: str | os.PathLike) -> tuple[GraphParts, np.ndarray | None]:
    """A model file's parts and θ (None if none was saved); see :func:`factorgraph.load`.

    Raises
    ------
    ModelFileError
        When the file is missing, not a model file, of an unsupported version, or damaged.
    """
    arrays, header = _read(path)
    try:
        ptr, eptr = arrays["domain_ptr"], arrays["edges_ptr"]
        domains = []
        for d in range(len(ptr) - 1):
            values = arrays["domain_values"][ptr[d] : ptr[d + 1]]
            edges = arrays["domain_edges"][eptr[d] : eptr[d + 1]]
            domains.append(Domain(_readonly(values), _readonly(edges) if len(edges) else None))
        groups, n_features = [], 0
        for i, meta in enumerate(header["groups"]):
            if meta["form"] not in ("scaled", "indexed"):
                raise ValueError(f"group {i} has an unknown form {meta['form']!r}")
            init = arrays[f"group{i}.theta_init"]
            grp = FeatureGroup(
                name=meta["name"],
                kind=meta["kind"],
                form=meta["form"],
                trainable=bool(meta["trainable"]),
                scopes=arrays[f"group{i}.scopes"].astype(np.int32),
                table_offset=arrays[f"group{i}.table_offset"],
                n_per_row=arrays[f"group{i}.n_per_row"],
                theta_start=n_features,
                params=meta["params"],
                theta_init=float(init[0]) if meta["theta_init_scalar"] else init,
            )
            groups.append(grp)
            n_features += grp.n_features
        parts = GraphParts(
            domains=tuple(domains),
            var_domain=arrays["var_domain"].astype(np.int32),
            names=tuple(header["variable_names"]),
            tables=TablePool.from_array(arrays["tables"], *arrays["tables_layout"]),
            maps=TablePool.from_array(arrays["maps"], *arrays["maps_layout"]),
            groups=tuple(groups),
        )
        if parts.n_variables != header["n_variables"] or parts.n_features != header["n_features"]:
            raise ValueError("sizes in the header do not match the arrays")
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise ModelFileError(f"{os.fspath(path)!r} is not a consistent model file: {exc}.") from exc
    return parts, arrays.get("theta")


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.flags.writeable = False
    return array


def _read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Open, parse and checksum a model file; every failure is a ModelFileError."""
    where = repr(os.fspath(path))
    if not os.path.exists(path):
        raise ModelFileError(f"No model file at {where}.")
    try:
        with open(path, "rb") as fh:
            loaded = np.load(io.BytesIO(fh.read()), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with loaded as npz:
            arrays = {name: npz[name] for name in npz.files}
        text = arrays.pop("header").tobytes()
        if hashlib.sha256(text).hexdigest().encode() != arrays.pop("header_sha256").tobytes():
            raise ModelFileError(f"{where} is damaged: its header fails its checksum.")
        header = json.loads(text.decode())
    except ModelFileError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"{where} is not a readable factorgraph-maxent model file ({type(exc).__name__}: {exc}). "
            "It may be truncated or damaged; save the model again."
        ) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{where} is an .npz file but not a factorgraph-maxent model file.")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{where} has model format version {header.get('format_version')}, but this library "
            f"reads version {FORMAT_VERSION}. Upgrade factorgraph-maxent to read it."
        )
    sums = header.get("sha256", {})
    for name in set(sums) | set(arrays):
        if name not in arrays or name not in sums:
            raise ModelFileError(f"{where} is damaged: array {name!r} is missing or unlisted.")
        if hashlib.sha256(np.ascontiguousarray(arrays[name]).tobytes()).hexdigest() != sums[name]:
            raise ModelFileError(f"{where} is damaged: array {name!r} fails its checksum.")
    return arrays, header
