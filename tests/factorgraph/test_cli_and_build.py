"""The command line, the compiled extensions and the OpenMP build switch."""

import importlib
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import factorgraph as fg
from factorgraph import _openmp
from factorgraph.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_demo_fits_the_digits_and_reports_the_mismatch(capsys, tmp_path):
    out = tmp_path / "digits.npz"
    assert main(["demo", "--steps", "30", "--sweeps", "1", "--chains", "100", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    before = float(text.split("mismatch before: rms ")[1].split(",")[0])
    after = float(text.split("mismatch after:  rms ")[1].split(",")[0])
    assert after < before / 2 and "fit time" in text
    graph, theta = fg.load(out)
    assert graph.n_features == 64 + 64 * 63 // 2 and theta.shape == (graph.n_features,)


def test_kinds_builds_every_kind_and_fits(capsys):
    assert main(["kinds", "--size", "6"]) == 0
    out = capsys.readouterr().out
    for kind in (
        "Product",
        "Indicator",
        "Bin",
        "Polynomial",
        "Threshold",
        "Table",
        "Function",
        "Potential",
        "Histogram",
    ):
        assert kind in out
    assert "colouring:" in out and "exact fit" in out


def test_info_prints_openmp_state(capsys):
    assert main(["info"]) == 0
    assert "openmp" in capsys.readouterr().out


def test_library_errors_exit_1_with_one_line(capsys):
    assert main(["kinds", "--size", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("factorgraph: error: ") and "Traceback" not in err


@pytest.mark.parametrize("module", ["factorgraph._kernels", "factorgraph._coloring", "factorgraph._openmp"])
def test_extensions_are_compiled(module):
    assert importlib.import_module(module).__file__.endswith((".so", ".pyd"))


def test_thread_count_semantics():
    available = _openmp.effective_n_threads(None)
    assert available >= 1
    assert _openmp.effective_n_threads(-1) == available
    assert _openmp.effective_n_threads(1) == 1
    with pytest.raises(fg.ModelSpecError, match="n_threads"):
        _openmp.effective_n_threads(0)


def test_energy_is_identical_for_any_thread_count():
    import numpy as np

    g = fg.FactorGraph()
    g.add_variables(12, n_states=3)
    g.add_features(fg.features.Potential([(i, (i + 1) % 12) for i in range(12)]))
    cg = g.compile()
    states = np.random.default_rng(1).integers(0, 3, size=(5000, 12))
    theta = np.random.default_rng(2).normal(size=cg.n_features)
    np.testing.assert_array_equal(cg.energy(states, theta, n_threads=1), cg.energy(states, theta, n_threads=2))


@pytest.mark.slow
def test_builds_and_runs_without_openmp(tmp_path):
    """FACTORGRAPH_NO_OPENMP=1 builds serial extensions that report no OpenMP and still work."""
    pytest.importorskip("Cython")
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for package in ("factorgraph", "samplers", "objectives"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    env = dict(os.environ, FACTORGRAPH_NO_OPENMP="1")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    check = (
        "import factorgraph as fg, factorgraph._openmp as o; "
        f"assert fg.__file__.startswith({str(tmp_path)!r}); assert not o.have_openmp(); "
        "assert o.effective_n_threads(None) == 1; "
        "from factorgraph.cli import main; assert main(['kinds', '--size', '4']) == 0"
    )
    subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env=dict(env, PYTHONPATH=str(tmp_path)),
    )
