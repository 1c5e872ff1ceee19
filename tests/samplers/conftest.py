"""Sampler-test configuration: install the third-party plugin package before collection.

``tests/plugins/toy_sampler`` is a separate distribution that registers the sampler
"random-scan-metropolis" under the entry-point group ``factorgraph.samplers``. It is installed
into the running interpreter's environment with pip (no network, no build isolation: the
setuptools of the test extras builds it) when it is missing or older than its source, before the
tests are collected, so that tests parametrised over ``samplers.available()`` include it. It is
built from a temporary copy, so no build files land in the repository.
"""

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

import samplers

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "toy_sampler"
MODULE = "fg_toy_sampler.py"


def _project() -> dict:
    with open(PLUGIN / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]


def _up_to_date(project: dict) -> bool:
    """Whether the installed plugin has the source's version, entry points and module text."""
    try:
        dist = importlib.metadata.distribution(project["name"])
    except importlib.metadata.PackageNotFoundError:
        return False
    entry_points = {ep.name: ep.value for ep in dist.entry_points if ep.group == "factorgraph.samplers"}
    installed = [f for f in dist.files or () if f.name == MODULE]
    return (
        dist.version == project["version"]
        and entry_points == project["entry-points"]["factorgraph.samplers"]
        and len(installed) == 1
        and Path(dist.locate_file(installed[0])).read_bytes() == (PLUGIN / MODULE).read_bytes()
    )


def pytest_configure(config):
    project = _project()
    if not _up_to_date(project):
        with tempfile.TemporaryDirectory() as tmp:
            source = shutil.copytree(PLUGIN, Path(tmp) / PLUGIN.name)
            command = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--force-reinstall",
                str(source),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            raise pytest.UsageError(
                f"Could not install the test plugin {project['name']} from {PLUGIN}:\n{done.stdout}{done.stderr}"
            )
        importlib.invalidate_caches()
    samplers.refresh()  # entry points may have been read before the plugin was installed
