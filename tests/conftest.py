"""Shared test configuration: a deterministic hypothesis profile and per-test seeds."""

import hashlib
import os

import pytest
from hypothesis import HealthCheck, settings

# tests/plugins holds separate distributions (their own pyproject.toml); tests/samplers/conftest.py
# installs them and the tests use the installed copies, so they are not collected from source.
collect_ignore = ["plugins"]

# Tests ask for two threads to show that results do not depend on them: give them both however
# small the model (the rule that runs small work on one thread has tests of its own); the
# variable reaches subprocesses, the fixture below this process.
os.environ.setdefault("FACTORGRAPH_MIN_THREAD_WORK", "0")

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=100,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "nightly",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def seed(request) -> int:
    """A seed derived from the test's node id: stable, distinct per test, printed on failure."""
    return int.from_bytes(hashlib.sha256(request.node.nodeid.encode()).digest()[:8], "little")


@pytest.fixture(autouse=True)
def every_requested_thread(monkeypatch):
    """Every thread a test asks for, however small the model (see FACTORGRAPH_MIN_THREAD_WORK)."""
    from samplers import _chains

    monkeypatch.setattr(_chains, "MIN_WORK_PER_THREAD", 0)
