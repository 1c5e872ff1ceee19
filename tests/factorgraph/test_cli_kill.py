"""End to end: ``factorgraph fit`` killed with SIGKILL in the middle, then ``--resume``.

The issue's test, in subprocesses: ``factorgraph fit MODEL DATA --plot`` with checkpoints is
killed with SIGKILL (no handler, no clean-up, maybe in the middle of writing a checkpoint) once
a checkpoint part-way through the run exists; ``factorgraph fit MODEL --checkpoint-dir D
--resume`` then finishes the run, and its θ equals an uninterrupted run's bit for bit.
"""

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import factorgraph as fg

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL") or os.name != "posix",
    reason="needs POSIX SIGKILL to kill the fit without any clean-up",
)

STEPS = 240  # the run's total steps (the model file's max_steps, passed again as --steps)
EVERY = 8  # steps between checkpoints
KILL_AFTER = 40  # kill once the newest checkpoint is at this step or later: a sixth of the run
PNG = b"\x89PNG\r\n\x1a\n"

# Ten ±1 spins: fields, a ring of couplings and a few long ones, moments from data. Many chains
# and sweeps make a step take some milliseconds, so the run lasts seconds in all while the first
# checkpoints come early; SGD with momentum, a learning-rate schedule and Polyak averaging put
# optimizer and averaging state in every checkpoint. One thread (--threads 1 as well).
MODEL = f"""\
format = "factorgraph-model"
version = 1
description = "ten spins on a ring with a few long couplings"

[[variables]]
n = 10
values = [-1, 1]

[[features]]
kind = "Product"
name = "fields"
scopes = {{ range = [0, 10] }}

[[features]]
kind = "Product"
name = "couplings"
scopes = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 8], [8, 9], [9, 0], [0, 5], [2, 7], [3, 8]]

[[objectives]]
name = "moment-matching"
target = {{ from = "data", pseudocount = 0.05 }}

[sampler]
n_chains = 2000
sweeps_per_step = 60
seed = 11
n_threads = 1

[optimizer]
name = "sgd"
momentum = 0.5
lr = {{ name = "inverse_time", lr = 0.1, decay_steps = 50 }}

[fit]
max_steps = {STEPS}
tol = 0.0
average_from = {STEPS // 2}
"""


def _environment():
    """The environment of the subprocesses: the code under test first on the path (the folder
    that holds the imported package: the repository with an in-place build, or site-packages)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    root = str(pathlib.Path(fg.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _fit_command(folder, checkpoints, name, *extra):
    return [
        sys.executable,
        "-m",
        "factorgraph",
        "fit",
        str(folder / "model.toml"),
        *extra,
        "--checkpoint-dir",
        str(folder / checkpoints),
        "-o",
        str(folder / f"{name}.npz"),
        "--plot",
        str(folder / f"{name}.png"),
        "-q",
    ]


def _latest_step(checkpoints):
    """The step of the checkpoint that ``latest`` names, or None before the first one."""
    try:
        name = (checkpoints / "latest").read_text().strip()
    except OSError:
        return None
    found = re.fullmatch(r"ckpt-(\d+)", name)
    return int(found.group(1)) if found else None


def _run(command, folder, env, timeout=300):
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_sigkill_mid_fit_then_resume_gives_the_uninterrupted_theta(tmp_path):
    pytest.importorskip("matplotlib")
    folder, env = tmp_path, _environment()
    rng = np.random.default_rng(5)
    data = rng.integers(0, 2, size=(400, 10))
    data[:, 1] = np.where(rng.random(400) < 0.8, data[:, 0], data[:, 1])
    data[:, 6] = np.where(rng.random(400) < 0.7, 1 - data[:, 5], data[:, 6])
    (folder / "model.toml").write_text(MODEL)
    (folder / "data.csv").write_text("\n".join(",".join(map(str, row)) for row in data) + "\n")
    settings = [str(folder / "data.csv"), "--steps", str(STEPS), "--checkpoint-every", str(EVERY), "--threads", "1"]

    # the uninterrupted reference
    started = time.perf_counter()
    text = _run(_fit_command(folder, "ref_ckpt", "ref", *settings), folder, env)
    reference_seconds = time.perf_counter() - started
    assert f"steps: {STEPS} in" in text, text
    assert _latest_step(folder / "ref_ckpt") == STEPS

    # the same command, killed with SIGKILL once a checkpoint a sixth of the way exists
    killed_dir = folder / "killed_ckpt"
    proc = subprocess.Popen(
        _fit_command(folder, "killed_ckpt", "killed", *settings),
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            step = _latest_step(killed_dir)
            if step is not None and step >= KILL_AFTER:
                break
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(
                    f"the fit ended (exit code {proc.returncode}) before a checkpoint at step >= "
                    f"{KILL_AFTER} appeared (latest: {step}):\n{out}\n{err}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint at step >= {KILL_AFTER} after 300 s (latest: {step})")
            time.sleep(0.005)
        proc.kill()  # SIGKILL
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, (
        f"the fit was to be killed in the middle, but it exited with {proc.returncode} (the run is too "
        f"short for this machine: the reference took {reference_seconds:.1f} s):\n{out}\n{err}"
    )
    assert not (folder / "killed.npz").exists() and not (folder / "killed.png").exists()
    done = _latest_step(killed_dir)
    assert done is not None and KILL_AFTER <= done < STEPS and done % EVERY == 0, done

    # SIGKILL may land while a checkpoint is being written, which leaves a partial .tmp folder;
    # make sure that case is covered whatever the timing: the next checkpoint, half written
    partial = killed_dir / f"ckpt-{done + EVERY:06d}.tmp"
    if not partial.exists():
        shutil.copytree(killed_dir / f"ckpt-{done:06d}", partial)
        (partial / "manifest.json").unlink()
        with open(partial / "state.npz", "r+b") as fh:
            fh.truncate(fh.seek(0, os.SEEK_END) // 2)

    # --resume: the interrupted call's arguments, until the run's total steps; no DATA
    text = _run(_fit_command(folder, "killed_ckpt", "resumed", "--resume"), folder, env)
    assert f"steps: {STEPS - done} in" in text, text
    assert _latest_step(killed_dir) == STEPS  # the run's total, in the resumed folder too
    assert not partial.exists()  # removed by the next checkpoint write
    for name in ("ref.png", "resumed.png"):
        assert (folder / name).read_bytes()[:8] == PNG, name
    ref_graph, ref_theta = fg.load(folder / "ref.npz")
    resumed_graph, resumed_theta = fg.load(folder / "resumed.npz")
    assert resumed_graph.compile().fingerprint() == ref_graph.compile().fingerprint()
    np.testing.assert_array_equal(resumed_theta, ref_theta)
