"""The contents of a checkpoint: a compiled graph and a trainer's state as ``.npz`` and JSON files.

:func:`pack` turns them into the bytes of ``graph.npz``, ``state.npz`` and ``trainer.json``
(every array of the state moved into ``state.npz``, a reference left in its place);
:func:`unpack` turns those bytes back. :mod:`factorgraph.checkpoint` stores the files.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import fields
from typing import Any

import numpy as np

from factorgraph._errors import CheckpointCorruptedError, CheckpointError, FactorGraphError
from factorgraph.compiled import CompiledGraph

__all__ = ["pack", "unpack", "json_bytes"]

_ARRAY = "__array__"
NEEDED = ("graph.npz", "state.npz", "trainer.json")


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def json_bytes(obj: Any) -> bytes:
    """``obj`` as indented JSON with sorted keys: the same state gives the same bytes."""
    return json.dumps(obj, indent=1, sort_keys=True).encode()


def _load_npz(data: bytes, name: str, where: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointCorruptedError(f"Checkpoint {where}: {name} is unreadable ({exc}).") from exc


# -- JSON with arrays --------------------------------------------------------------------------


def _split(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON, with every ndarray moved into ``arrays`` under ``key`` (a reference)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise CheckpointError(f"{key} is an array of {value.dtype}; checkpoints hold numbers only.")
        arrays[key] = value
        return {_ARRAY: key}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise CheckpointError(f"{key} has keys that are not strings.")
        return {k: _split(v, f"{key}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_split(v, f"{key}[{i}]", arrays) for i, v in enumerate(value)]
    raise CheckpointError(
        f"{key} is a {type(value).__name__} ({value!r:.60}), which a checkpoint cannot hold; "
        "only numbers, strings, lists, dicts and numeric arrays."
    )


def _join(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return arrays[value[_ARRAY]]
        return {k: _join(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, arrays) for v in value]
    return value


# -- a trainer's state as files ---------------------------------------------------------------


def pack(graph: CompiledGraph, state: dict[str, Any]) -> dict[str, bytes]:
    """The files of a checkpoint: graph.npz (the compiled graph), state.npz (every array of
    ``state``) and trainer.json (the rest of ``state``, with references to those arrays).

    ``state`` is a :meth:`~factorgraph.Trainer.state_dict`: nested dicts and lists of JSON
    scalars and numeric arrays.

    Raises
    ------
    CheckpointError
        When ``state`` holds something else.
    """
    graph_arrays = {
        f.name: getattr(graph, f.name) for f in fields(CompiledGraph) if isinstance(getattr(graph, f.name), np.ndarray)
    }
    names = {f.name: list(getattr(graph, f.name)) for f in fields(CompiledGraph) if f.name not in graph_arrays}
    graph_arrays["names"] = np.frombuffer(json.dumps(names).encode(), dtype=np.uint8)
    arrays: dict[str, np.ndarray] = {}
    meta_json = _split(state, "trainer", arrays)
    return {
        "graph.npz": _npz_bytes(graph_arrays),
        "state.npz": _npz_bytes(arrays),
        "trainer.json": json_bytes(meta_json),
    }


def unpack(contents: dict[str, bytes], where: str) -> tuple[CompiledGraph, dict[str, Any], dict[str, np.ndarray]]:
    """The compiled graph, the state (arrays in place) and the arrays of ``state.npz``, from a
    checkpoint's verified files; ``where`` names the checkpoint in errors.

    Raises
    ------
    CheckpointCorruptedError
        When a file is missing or the contents do not parse or fit together.
    """
    for needed in NEEDED:
        if needed not in contents:
            raise CheckpointCorruptedError(f"Checkpoint {where} lists no {needed}.")
    graph_arrays = _load_npz(contents["graph.npz"], "graph.npz", where)
    arrays = _load_npz(contents["state.npz"], "state.npz", where)
    try:
        meta = json.loads(contents["trainer.json"].decode())
        names = json.loads(graph_arrays.pop("names").tobytes().decode())
        values: dict[str, Any] = {
            f.name: graph_arrays[f.name] if f.name in graph_arrays else tuple(names[f.name])
            for f in fields(CompiledGraph)
        }
        graph = CompiledGraph(**values)
        meta = _join(meta, arrays)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, FactorGraphError) as exc:
        raise CheckpointCorruptedError(
            f"Checkpoint {where} does not fit together ({type(exc).__name__}: {exc})."
        ) from exc
    return graph, meta, arrays
