"""The habits that keep the code in shape, checked on every test run: ruff (lint and format) and
mypy on the Python packages, cython-lint on the Cython sources. Their settings live in
pyproject.toml; a finding fails the suite, naming the file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' installs it")
    return found


def test_ruff_finds_nothing():
    done = _run(_tool("ruff"), "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    done = _run(_tool("ruff"), "format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing():
    done = _run(sys.executable, "-m", "mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_cython_lint_finds_nothing():
    sources = sorted(
        str(p.relative_to(ROOT)) for d in ("factorgraph", "samplers") for p in (ROOT / d).glob("*.p[yx][xd]")
    )
    done = _run(_tool("cython-lint"), *sources)
    assert done.returncode == 0, done.stdout + done.stderr
