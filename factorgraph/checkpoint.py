"""Training checkpoints: the atomic, checksummed folder store of a :class:`~factorgraph.Trainer`'s state.

The trainer says what its state is (:meth:`~factorgraph.Trainer.state_dict`); this module
stores it beside the compiled graph and reads it back, verified.

Layout
------
A checkpoint folder holds one sub-folder per checkpoint, named after the step, and a pointer::

    run/
        latest                  the name of the newest checkpoint ("ckpt-000300")
        ckpt-000200/            the one before it
        ckpt-000300/
            graph.npz           the CompiledGraph's arrays (and its names, as JSON bytes)
            state.npz           θ, chain states, running sums, generator key, optimizer buffers,
                                Polyak mean, stability window, objectives' arrays, history
            trainer.json        settings and scalars: trainer, sampler (name, options, sweep
                                counter), optimizer (class, settings, schedule), objectives
                                (registered name, parameters), monitor, fit arguments
            manifest.json       format and version, library version, graph fingerprint, step,
                                run id, and the size and SHA-256 of every other file

Arrays are plain ``.npz`` without pickle; everything else is JSON.

Atomic protocol
---------------
A checkpoint is written into ``ckpt-000300.tmp/``; every file is flushed and fsynced, the
manifest last; the folder is fsynced, renamed to ``ckpt-000300/`` (one rename for the whole
checkpoint, never per file) and the parent folder fsynced. Then ``latest`` is replaced the same
way (temporary file, fsync, rename, fsync of the folder), and only then are older checkpoints
deleted: the new one and the one before it are kept. A crash at any point leaves the previous
checkpoint intact; a partial ``.tmp`` folder is never read, and is removed by the next write.

Reading checks the manifest (present, valid JSON, this format and version), every file's size
(truncation) and SHA-256, and that the rebuilt graph has the manifest's fingerprint: a failure
raises :class:`~factorgraph.CheckpointCorruptedError`, another model or format version
:class:`~factorgraph.CheckpointMismatchError`. :func:`find` on a folder falls back from a
refused checkpoint to the previous intact one with a :class:`~factorgraph.CheckpointFallbackWarning`.

Examples
--------
>>> import tempfile, numpy as np, factorgraph as fg, objectives
>>> g = fg.FactorGraph()
>>> _ = g.add_variables(3, values=[-1, 1])
>>> _ = g.add_features(fg.features.Product([(0, 1), (1, 2)]))
>>> folder = tempfile.mkdtemp()
>>> trainer = fg.Trainer(g, [objectives.MomentMatching([0.5, -0.3])], n_chains=64, seed=0,
...                      checkpoint_dir=folder, checkpoint_every=10)
>>> _ = trainer.fit(max_steps=20, tol=0.0, progress=False)
>>> [os.path.basename(p) for p in fg.checkpoint.list_checkpoints(folder)]
['ckpt-000020', 'ckpt-000010']
>>> again = fg.Trainer.resume(folder)
>>> again.step_count, bool(np.array_equal(again.theta, trainer.theta))
(20, True)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from factorgraph._checkpoint_codec import json_bytes, pack, unpack
from factorgraph._errors import (
    CheckpointCorruptedError,
    CheckpointError,
    CheckpointFallbackWarning,
    CheckpointMismatchError,
    CheckpointWarning,
)
from factorgraph._version import __version__
from factorgraph.compiled import CompiledGraph

__all__ = [
    "Checkpoint",
    "pack",
    "write",
    "read",
    "find",
    "validate",
    "check_run",
    "list_checkpoints",
    "check_empty",
    "FORMAT",
    "FORMAT_VERSION",
    "KEEP",
]

FORMAT = "factorgraph-maxent checkpoint"
FORMAT_VERSION = 1
KEEP = 2  # the new checkpoint and the one before it
MANIFEST = "manifest.json"
LATEST = "latest"
_NAME = re.compile(r"^ckpt-(\d{6,})$")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint, read and verified.

    Attributes
    ----------
    path : str
        Its folder.
    step : int
        The trainer's step count when it was written.
    manifest : dict
        The parsed ``manifest.json``.
    meta : dict
        The parsed ``trainer.json``, with every array reference replaced by its array.
    arrays : dict of str to ndarray
        The contents of ``state.npz``.
    graph : CompiledGraph
        The model, with the manifest's fingerprint.
    """

    path: str
    step: int
    manifest: dict[str, Any]
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    graph: CompiledGraph

    @property
    def theta(self) -> np.ndarray:
        """θ at the checkpoint."""
        return self.meta["theta"]


# -- low-level file operations -----------------------------------------------------------------


def _write_file(path: str, data: bytes) -> None:
    """Write ``data`` to a new file and fsync it."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _step_of(name: str) -> int | None:
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def list_checkpoints(directory: str | os.PathLike) -> list[str]:
    """The checkpoint folders in ``directory``, newest first: the one ``latest`` names, then the
    rest by step. Partial ``.tmp`` folders are never listed; nothing is verified here (see
    :func:`validate`)."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    found = sorted(
        (
            (_step_of(name), name)
            for name in os.listdir(directory)
            if _step_of(name) is not None and os.path.isdir(os.path.join(directory, name))
        ),
        reverse=True,
    )
    names = [name for _, name in found]
    try:
        with open(os.path.join(directory, LATEST)) as fh:
            latest = fh.read().strip()
    except OSError:
        latest = ""
    if latest in names:
        names.remove(latest)
        names.insert(0, latest)
    return [os.path.join(directory, name) for name in names]


def _clean_partial(directory: str) -> None:
    """Remove what an interrupted write left: ``*.tmp`` folders and files, ``*.old`` folders."""
    for name in os.listdir(directory):
        if name.endswith((".tmp", ".old")):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


def write(directory: str | os.PathLike, step: int, files: dict[str, bytes], fingerprint: str, run_id: str = "") -> str:
    """Write one checkpoint atomically (see the module's notes); returns its folder.

    Parameters
    ----------
    directory : str or path-like
        The checkpoint folder (created if needed).
    step : int
        Names the checkpoint ``ckpt-{step:06d}``.
    files : dict of str to bytes
        File name to contents; the manifest is added, with their sizes and SHA-256.
    fingerprint : str
        The graph's :meth:`~factorgraph.CompiledGraph.fingerprint`.
    run_id : str, optional
        Identifies the training run, so that one run never mixes with another's checkpoints.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    _clean_partial(directory)
    name = f"ckpt-{int(step):06d}"
    final, tmp = os.path.join(directory, name), os.path.join(directory, name + ".tmp")
    os.mkdir(tmp)
    try:
        for file_name, data in files.items():
            _write_file(os.path.join(tmp, file_name), data)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "fingerprint": fingerprint,
            "step": int(step),
            "run_id": run_id,
            "files": {k: {"bytes": len(v), "sha256": hashlib.sha256(v).hexdigest()} for k, v in files.items()},
        }
        _write_file(os.path.join(tmp, MANIFEST), json_bytes(manifest))
        _fsync_dir(tmp)
        if os.path.exists(final):  # a checkpoint of this step from a discarded continuation
            os.rename(final, final + ".old")
        os.rename(tmp, final)
        _fsync_dir(directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = os.path.join(directory, LATEST + ".tmp")
    _write_file(pointer, name.encode())
    os.replace(pointer, os.path.join(directory, LATEST))
    _fsync_dir(directory)
    # the new checkpoint is durable: keep it and the newest one before it, drop the rest
    # (including any of later steps, left by a run that went on from an older checkpoint)
    earlier = [p for p in list_checkpoints(directory) if (_step_of(os.path.basename(p)) or 0) < step]
    earlier.sort(key=lambda p: _step_of(os.path.basename(p)) or 0, reverse=True)
    keep = {final, *earlier[: KEEP - 1]}
    for path in list_checkpoints(directory):
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)
    _clean_partial(directory)
    return final


# -- reading and verifying ---------------------------------------------------------------------


def _read_verified(path: str, fingerprint: str | None) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and every file's bytes, all checked; raises the specific errors."""
    where = repr(path)
    manifest_path = os.path.join(path, MANIFEST)
    if not os.path.isdir(path):
        raise CheckpointCorruptedError(f"No checkpoint folder at {where}.")
    if not os.path.exists(manifest_path):
        raise CheckpointCorruptedError(
            f"Checkpoint {where} has no {MANIFEST}: it is incomplete (the manifest is written last) or damaged."
        )
    try:
        with open(manifest_path, "rb") as fh:
            manifest = json.loads(fh.read().decode())
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not a mapping")
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointCorruptedError(f"Checkpoint {where} has an unreadable {MANIFEST} ({exc}).") from exc
    if manifest.get("format") != FORMAT:
        raise CheckpointCorruptedError(
            f"{where} is not a factorgraph-maxent checkpoint (format {manifest.get('format')!r})."
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointMismatchError(
            f"Checkpoint {where} has checkpoint format version {manifest.get('format_version')!r} (written by "
            f"factorgraph-maxent {manifest.get('library_version')}); this library reads version {FORMAT_VERSION}. "
            f"Resume it with factorgraph-maxent {manifest.get('library_version')}, or start a new fit."
        )
    if fingerprint is not None and manifest.get("fingerprint") != fingerprint:
        raise CheckpointMismatchError(
            f"Checkpoint {where} is of another model: its graph fingerprint {str(manifest.get('fingerprint'))[:12]}… "
            f"differs from this graph's {fingerprint[:12]}…. Resume with the model it was written for, or "
            "choose the checkpoint folder of this model."
        )
    contents = {}
    for name, entry in files.items():
        file_path = os.path.join(path, name)
        if os.path.basename(name) != name or not os.path.isfile(file_path):
            raise CheckpointCorruptedError(f"Checkpoint {where} is damaged: file {name!r} is missing.")
        with open(file_path, "rb") as fh:
            data = fh.read()
        if len(data) != entry.get("bytes"):
            raise CheckpointCorruptedError(
                f"Checkpoint {where} is damaged: {name!r} has {len(data)} bytes, not {entry.get('bytes')} (truncated)."
            )
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise CheckpointCorruptedError(f"Checkpoint {where} is damaged: {name!r} fails its SHA-256 checksum.")
        contents[name] = data
    return manifest, contents


def validate(path: str | os.PathLike, fingerprint: str | None = None) -> dict[str, Any]:
    """Check one checkpoint's manifest, files, sizes and checksums; returns the manifest.

    Parameters
    ----------
    path : str or path-like
        A checkpoint folder (``.../ckpt-000123``).
    fingerprint : str, optional
        When given, the checkpoint must be of the graph with this fingerprint.

    Raises
    ------
    CheckpointCorruptedError
        A missing or unreadable manifest, a missing, truncated or altered file.
    CheckpointMismatchError
        Another format version, or another graph.
    """
    return _read_verified(os.fspath(path), fingerprint)[0]


def read(path: str | os.PathLike, fingerprint: str | None = None) -> Checkpoint:
    """Read and verify one checkpoint folder (no fallback; see :func:`find`).

    Parameters
    ----------
    path : str or path-like
        A checkpoint folder (``.../ckpt-000123``).
    fingerprint : str, optional
        When given, the checkpoint must be of the graph with this fingerprint.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointCorruptedError, CheckpointMismatchError
        As :func:`validate`; also when the contents do not parse or do not rebuild the graph
        with the manifest's fingerprint.
    """
    path = os.fspath(path)
    where = repr(path)
    manifest, contents = _read_verified(path, fingerprint)
    graph, meta, arrays = unpack(contents, where)
    if graph.fingerprint() != manifest.get("fingerprint"):
        raise CheckpointMismatchError(
            f"Checkpoint {where}: its graph rebuilds with another fingerprint than the manifest's; it was written "
            f"by factorgraph-maxent {manifest.get('library_version')}, whose compiled form differs. Resume it with "
            "that version."
        )
    if manifest.get("library_version") != __version__:
        warnings.warn(
            f"Checkpoint {where} was written by factorgraph-maxent {manifest.get('library_version')}, not "
            f"{__version__}: it loads, but the continuation is bit-identical to the uninterrupted "
            "run only with the same version.",
            CheckpointWarning,
            stacklevel=2,
        )
    return Checkpoint(
        path=path,
        step=int(manifest.get("step", meta.get("step", 0))),
        manifest=manifest,
        meta=meta,
        arrays=arrays,
        graph=graph,
    )


def _is_checkpoint_folder(path: str) -> bool:
    return _step_of(os.path.basename(os.path.normpath(path))) is not None or os.path.exists(
        os.path.join(path, MANIFEST)
    )


def find(path: str | os.PathLike, fingerprint: str | None = None) -> Checkpoint:
    """The checkpoint to resume from: ``path`` itself when it is one checkpoint, else the newest
    intact one in the folder ``path``.

    A refused newer checkpoint (damaged, or of another model or format version) is skipped
    with a :class:`~factorgraph.CheckpointFallbackWarning` naming it and the one used.

    Raises
    ------
    CheckpointError
        When the folder holds no checkpoint.
    CheckpointCorruptedError, CheckpointMismatchError
        When no checkpoint there can be used (the newest one's error, listing the others).
    """
    path = os.fspath(path)
    if _is_checkpoint_folder(path):
        return read(path, fingerprint)
    candidates = list_checkpoints(path)
    if not candidates:
        raise CheckpointError(f"No checkpoint in {path!r} (no ckpt-NNNNNN folder).")
    refused: list[tuple[str, CheckpointError]] = []
    for candidate in candidates:
        try:
            found = read(candidate, fingerprint)
        except CheckpointError as exc:
            refused.append((candidate, exc))
            continue
        if refused:
            listed = "; ".join(f"{os.path.basename(p)}: {e}" for p, e in refused)
            warnings.warn(
                f"Refused checkpoint(s) {listed}. Falling back to {os.path.basename(candidate)} (step {found.step}).",
                CheckpointFallbackWarning,
                stacklevel=3,
            )
        return found
    first = refused[0][1]
    others = "".join(f" {os.path.basename(p)}: {e}" for p, e in refused[1:])
    raise type(first)(f"{first}" + (f" No earlier checkpoint can be used either:{others}" if others else ""))


def check_empty(directory: str | os.PathLike) -> None:
    """Refuse a folder that already holds checkpoints, for a new run (not a resumed one)."""
    found = list_checkpoints(directory)
    if found:
        raise CheckpointError(
            f"The checkpoint folder {os.fspath(directory)!r} already holds checkpoints of a run "
            f"(newest: {os.path.basename(found[0])}). Resume that run with fg.Trainer.resume(folder), or give "
            "this run an empty folder (or delete those checkpoints)."
        )


def check_run(directory: str | os.PathLike, run_id: str) -> None:
    """Refuse to write into a folder whose newest checkpoint belongs to another run.

    Raises
    ------
    CheckpointError
        Naming the other run's checkpoint and what to do.
    """
    directory = os.fspath(directory)
    for path in list_checkpoints(directory)[:1]:
        try:
            with open(os.path.join(path, MANIFEST)) as fh:
                other = json.load(fh).get("run_id")
        except (OSError, ValueError, AttributeError):
            continue
        if other != run_id:
            raise CheckpointError(
                f"The checkpoint folder {directory!r} holds another run's checkpoints ({os.path.basename(path)}). "
                "Resume that run with fg.Trainer.resume(folder), or write to an empty folder."
            )
