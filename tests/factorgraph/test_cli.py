"""The ``factorgraph`` command line: fit, sample, exact, info; files, exit codes, help, logging."""

import ast
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

import factorgraph as fg
from factorgraph._cli_info import memory_estimate
from factorgraph.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODEL = """\
format = "factorgraph-model"
version = 1
description = "a chain of four spins"

[[variables]]
n = 4
values = [-1, 1]

[[features]]
kind = "Product"
name = "fields"
scopes = { range = [0, 4] }

[[features]]
kind = "Product"
name = "couplings"
scopes = [[0, 1], [1, 2], [2, 3]]

[[objectives]]
name = "moment-matching"
target = { from = "data", pseudocount = 0.05 }

[sampler]
n_chains = 100
seed = 3
n_threads = 1

[fit]
max_steps = 25
tol = 0.0
"""


@pytest.fixture
def files(tmp_path):
    """The tiny model, its data as .npy, .csv (with a header and a comment) and .npz."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2, size=(300, 4))
    data[:, 1] = np.where(rng.random(300) < 0.8, data[:, 0], data[:, 1])
    (tmp_path / "model.toml").write_text(MODEL)
    np.save(tmp_path / "data.npy", data)
    csv = "# four spins\na,b,c,d\n" + "\n".join(",".join(map(str, row)) for row in data) + "\n"
    (tmp_path / "data.csv").write_text(csv)
    np.savez(tmp_path / "data.npz", train=data)
    return tmp_path, data


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def reference_fit(path, data, **overrides):
    return fg.load_spec(path).fit(data, progress=False, **overrides)


# -- fit ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["data.npy", "data.csv", "data.npz"])
def test_fit_saves_the_fitted_theta(files, capsys, name):
    folder, data = files
    out = folder / "fitted.npz"
    code, text, err = run(capsys, "fit", folder / "model.toml", folder / name, "-o", out, "-q")
    assert code == 0, err
    assert "converged: no (reached max_steps (the convergence test is off: tol=0))" in text
    assert "steps: 25 in" in text and "final mismatch (training chains): rms" in text
    assert "at the returned theta (fresh chains): residual rms" in text
    assert f"saved: {out}" in text and err == ""
    graph, theta = fg.load(out)
    assert graph.n_features == 7
    np.testing.assert_array_equal(theta, reference_fit(folder / "model.toml", data).theta)


def test_fit_flags_override_the_model_file(files, capsys):
    folder, data = files
    out = folder / "fitted.npz"
    code, text, _ = run(
        capsys,
        "fit",
        folder / "model.toml",
        folder / "data.npy",
        "-o",
        out,
        "--steps",
        "12",
        "--chains",
        "40",
        "--seed",
        "9",
        "--sweeps",
        "2",
        "-q",
    )
    assert code == 0 and "steps: 12 in" in text
    expected = reference_fit(folder / "model.toml", data, max_steps=12, n_chains=40, seed=9, sweeps_per_step=2)
    np.testing.assert_array_equal(fg.load(out)[1], expected.theta)


def test_fit_sampler_flags_choose_the_sampler_and_its_options(files, capsys):
    folder, data = files
    out = folder / "fitted.npz"
    argv = ["fit", folder / "model.toml", folder / "data.npy", "-o", out, "--steps", "8", "-q"]
    code, _, err = run(
        capsys, *argv, "--sampler", "mh", "--sampler-option", "proposal='uniform'", "--sampler-option", "block_size=32"
    )
    assert code == 0, err
    expected = reference_fit(folder / "model.toml", data, max_steps=8, sampler="mh", proposal="uniform", block_size=32)
    np.testing.assert_array_equal(fg.load(out)[1], expected.theta)
    gibbs = reference_fit(folder / "model.toml", data, max_steps=8).theta
    assert not np.array_equal(fg.load(out)[1], gibbs)  # another sampler, another trajectory
    code, _, err = run(capsys, *argv, "--sampler", "no-such")
    assert code == 1 and "No plugin named 'no-such'" in err and "'gibbs'" in err and "loopback" not in err
    code, _, err = run(capsys, *argv, "--sampler-option", "nonsense=1")
    assert code == 1 and "does not take these arguments" in err
    code, _, err = run(capsys, *argv, "--sampler-option", "no equals sign")
    assert code == 2 and "expected KEY=VALUE" in err


def test_fit_with_weights(files, capsys):
    folder, data = files
    weights = np.linspace(0.5, 2.0, len(data))
    np.save(folder / "w.npy", weights)
    out = folder / "fitted.npz"
    assert (
        run(capsys, "fit", folder / "model.toml", folder / "data.npy", "--weights", folder / "w.npy", "-o", out, "-q")[
            0
        ]
        == 0
    )
    expected = fg.load_spec(folder / "model.toml").fit(data, weights, progress=False)
    np.testing.assert_array_equal(fg.load(out)[1], expected.theta)


def test_fit_plot_writes_a_png(files, capsys):
    pytest.importorskip("matplotlib")
    folder, _ = files
    png = folder / "fit.png"
    code, text, _ = run(capsys, "fit", folder / "model.toml", folder / "data.npy", "--plot", png, "-q")
    assert code == 0 and f"plot: {png}" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_logs_to_stderr_and_summary_to_stdout(files, capsys):
    folder, _ = files
    code, text, err = run(capsys, "fit", folder / "model.toml", folder / "data.npy")
    assert code == 0
    assert "data: 300 rows of 4 variables" in err and "fit: reached max_steps" in err
    assert "data:" not in text and "converged:" in text
    code, text, err = run(capsys, "fit", folder / "model.toml", folder / "data.npy", "-q")
    assert code == 0 and err == ""


def test_ctrl_c_during_fit_exits_130(files, capsys, monkeypatch):
    import samplers.gibbs

    original, calls = samplers.gibbs.Gibbs.run, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(samplers.gibbs.Gibbs, "run", interrupted)
    folder, _ = files
    code, _, err = run(capsys, "fit", folder / "model.toml", folder / "data.npy", "-o", folder / "out.npz", "-q")
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert not (folder / "out.npz").exists()


# -- checkpoints (the Trainer's checkpoint API) ---------------------------------------------------


def test_ctrl_c_writes_a_checkpoint_and_resume_finishes(files, capsys, monkeypatch):
    import samplers.gibbs

    original, calls = samplers.gibbs.Gibbs.run, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 8:
            signal.raise_signal(signal.SIGINT)
        return original(self, *args, **kwargs)

    folder, _ = files
    checkpoints, out = folder / "run", folder / "fitted.npz"
    monkeypatch.setattr(samplers.gibbs.Gibbs, "run", interrupted)
    code, text, err = run(
        capsys, "fit", folder / "model.toml", folder / "data.npy", "--checkpoint-dir", checkpoints, "-o", out, "-q"
    )
    monkeypatch.undo()
    assert code == 130, err
    assert "--resume" in err and str(checkpoints) in err and "converged: no" in text
    assert checkpoints.is_dir() and any(checkpoints.iterdir()) and not out.exists()
    code, text, err = run(
        capsys, "fit", folder / "model.toml", "--checkpoint-dir", checkpoints, "--resume", "-o", out, "-q"
    )
    assert code == 0, err
    steps = int(text.split("steps: ")[1].split()[0])
    assert 0 < steps < 25
    assert fg.load(out)[1].shape == (7,)


def test_the_printed_resume_command_finishes_the_interrupted_run(files, capsys, monkeypatch):
    # --resume counts --steps (else the model file's 25) in all, so the printed line keeps --steps
    pytest.importorskip("matplotlib")
    import shlex

    import samplers.gibbs

    original, calls = samplers.gibbs.Gibbs.run, []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 8:
            signal.raise_signal(signal.SIGINT)
        return original(self, *args, **kwargs)

    folder, data = files
    checkpoints, out, png = folder / "run", folder / "fitted.npz", folder / "fit.png"
    monkeypatch.setattr(samplers.gibbs.Gibbs, "run", interrupted)
    code, _, err = run(
        capsys,
        "fit",
        folder / "model.toml",
        folder / "data.npy",
        "--steps",
        "20",
        "--checkpoint-dir",
        checkpoints,
        "-o",
        out,
        "--plot",
        png,
        "-q",
    )
    monkeypatch.undo()
    assert code == 130, err
    line = shlex.split(err.split("Resume with:")[1].strip().splitlines()[0])
    assert line[:2] == ["factorgraph", "fit"] and "--steps" in line and "--plot" in line
    code, text, err = run(capsys, *line[1:], "-q")
    assert code == 0, err
    assert "steps: 12 in" in text and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(fg.load(out)[1], reference_fit(folder / "model.toml", data, max_steps=20).theta)


def test_resume_continues_the_same_fit(files, capsys):
    folder, data = files
    checkpoints, out = folder / "run", folder / "resumed.npz"
    assert (
        run(
            capsys,
            "fit",
            folder / "model.toml",
            folder / "data.npy",
            "--steps",
            "10",
            "--checkpoint-dir",
            checkpoints,
            "--checkpoint-every",
            "5",
            "-q",
        )[0]
        == 0
    )
    code, text, err = run(
        capsys, "fit", folder / "model.toml", "--checkpoint-dir", checkpoints, "--resume", "-o", out, "-q"
    )
    assert code == 0, err
    assert "steps: 15 in" in text  # the model file's 25 steps in all
    np.testing.assert_allclose(fg.load(out)[1], reference_fit(folder / "model.toml", data).theta, rtol=0, atol=1e-12)


def test_resume_refuses_another_model(files, capsys):
    folder, _ = files
    checkpoints = folder / "run"
    assert (
        run(
            capsys,
            "fit",
            folder / "model.toml",
            folder / "data.npy",
            "--steps",
            "5",
            "--checkpoint-dir",
            checkpoints,
            "--checkpoint-every",
            "5",
            "-q",
        )[0]
        == 0
    )
    (folder / "other.toml").write_text(MODEL.replace("[[0, 1], [1, 2], [2, 3]]", "[[0, 1], [1, 2]]"))
    code, _, err = run(capsys, "fit", folder / "other.toml", "--checkpoint-dir", checkpoints, "--resume")
    assert code == 1 and "another model" in err


def test_resume_needs_a_checkpoint_dir(files, capsys):
    folder, _ = files
    code, _, err = run(capsys, "fit", folder / "model.toml", "--resume")
    assert code == 1 and "--checkpoint-dir" in err


# -- info, exact, sample --------------------------------------------------------------------------


def test_info_reports_sizes_groups_colours_and_memory(files, capsys):
    folder, _ = files
    code, text, _ = run(capsys, "info", folder / "model.toml", "--chains", "1000")
    assert code == 0
    assert "variables: 4 (4 with 2 states)" in text
    assert "joint states: 16 (small enough" in text
    assert "features: 7 in 2 groups; factors: 7" in text
    assert [line.split() for line in text.splitlines() if line.strip().startswith(("fields", "couplings"))] == [
        ["fields", "Product", "4", "1", "4", "yes"],
        ["couplings", "Product", "3", "2", "3", "yes"],
    ]
    assert "colours: 2 (class sizes 2 to 2)" in text
    assert "MomentMatching (target from data, pseudocount 0.05)" in text
    assert "sampler: gibbs, 100 chains, auto sweeps a step, seed 3, threads 1" in text
    assert "memory estimate for training with 1000 chains:" in text and "chain states" in text


def test_info_of_a_fitted_model(files, capsys):
    folder, _ = files
    g = fg.load_spec(folder / "model.toml").graph
    g.save(folder / "fitted.npz", theta=np.arange(7.0))
    code, text, _ = run(capsys, "info", folder / "fitted.npz")
    assert code == 0 and "fitted model (binary .npz)" in text and "theta: saved, 7 values in [0, 6]" in text
    assert "memory estimate for training with 256 chains" in text


@pytest.mark.parametrize("n_chains", [10, 1000, 5000])
def test_memory_estimate_follows_the_gibbs_sampler(n_chains):
    import samplers

    graph = fg.spec.example("digits-ising").graph.compile()
    items = dict(memory_estimate(graph, n_chains))
    sampler = samplers.create("gibbs", graph, n_chains, seed=0)
    sums = next(v for k, v in items.items() if k.startswith("running sums"))
    assert sums == 2 * sampler._sums.nbytes
    assert items["chain states (sampler, result, its sampler state)"] == 3 * sampler._x.nbytes
    assert items["compiled graph"] == graph.nbytes


def test_exact_prints_the_exact_theta(files, capsys):
    folder, data = files
    code, text, _ = run(capsys, "exact", folder / "model.toml", folder / "data.csv", "-o", folder / "exact.npz")
    assert code == 0 and text.startswith("exact fit: converged")
    spec = fg.load_spec(folder / "model.toml")
    expected = fg.exact.fit(spec.graph, objectives=spec.objectives_for(data))
    lines = text.splitlines()
    start = lines.index("theta by group:")
    printed = [float(x) for line in lines[start + 1 :] if line.startswith("    ") for x in line.split()]
    np.testing.assert_allclose(printed, expected.theta, rtol=1e-8, atol=1e-12)
    log_z = float(text.split("log partition: ")[1].split()[0])
    assert log_z == pytest.approx(expected.log_partition, rel=1e-10)
    np.testing.assert_array_equal(fg.load(folder / "exact.npz")[1], expected.theta)


def test_exact_refuses_a_model_too_large(capsys, tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(MODEL.replace("n = 4", "n = 40").replace("[[0, 1], [1, 2], [2, 3]]", "[[0, 1]]"))
    code, text, err = run(capsys, "exact", path)
    with pytest.raises(fg.ModelTooLargeError) as info:
        fg.exact.enumerate_states(fg.load_spec(path).graph)
    assert code == 1 and text == "" and err == f"factorgraph: error: {info.value}\n"


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_sample_writes_samples_of_the_right_shape(files, capsys, suffix):
    folder, _ = files
    fg.load_spec(folder / "model.toml").graph.save(folder / "fitted.npz", theta=np.full(7, 0.3))
    out = folder / f"draws{suffix}"
    code, text, _ = run(
        capsys,
        "sample",
        folder / "fitted.npz",
        "-n",
        "70",
        "-o",
        out,
        "--burn-in",
        "20",
        "--thin",
        "2",
        "--chains",
        "30",
        "--seed",
        "4",
        "--threads",
        "1",
    )
    assert code == 0 and "samples: 70 of 4 variables" in text
    draws = np.load(out) if suffix == ".npy" else np.loadtxt(out, delimiter=",", dtype=int)
    graph, theta = fg.load(folder / "fitted.npz")
    expected = fg.sample(graph, theta, 70, n_chains=30, burn_in=20, thin=2, seed=4, progress=False)
    assert draws.shape == (70, 4)
    np.testing.assert_array_equal(draws, expected)


def test_sample_a_toml_model_with_theta_from_a_fitted_file(files, capsys):
    folder, _ = files
    spec = fg.load_spec(folder / "model.toml")
    spec.graph.save(folder / "fitted.npz", theta=np.full(7, -0.2))
    np.save(folder / "theta.npy", np.full(7, -0.2))
    outs = []
    for theta in ("fitted.npz", "theta.npy"):
        code, _, err = run(
            capsys,
            "sample",
            folder / "model.toml",
            "--theta",
            folder / theta,
            "-n",
            "40",
            "--burn-in",
            "10",
            "-o",
            folder / "d.npy",
        )
        assert code == 0, err
        outs.append(np.load(folder / "d.npy"))
    np.testing.assert_array_equal(outs[0], outs[1])
    expected = fg.sample(spec.graph, np.full(7, -0.2), 40, burn_in=10, seed=spec.seed, n_threads=1, progress=False)
    np.testing.assert_array_equal(outs[0], expected)


def test_sample_without_out_prints_means(files, capsys):
    folder, _ = files
    code, text, _ = run(capsys, "sample", folder / "model.toml", "-n", "50", "--burn-in", "5")
    assert code == 0 and "mean value per variable: [" in text


# -- errors and usage -----------------------------------------------------------------------------


def _write(folder, name, content):
    path = folder / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("command", "make", "needle"),
    [
        ("fit", lambda f: f / "missing.npy", "missing.npy: no such data file"),
        ("fit", lambda f: _write(f, "short.npy", np.zeros((5, 3), int)), "expected an array of shape (N, 4)"),
        ("fit", lambda f: _write(f, "flat.npy", np.zeros(5, int)), "found shape (5,)"),
        (
            "fit",
            lambda f: _write(f, "frac.csv", "0,1,0,1\n1,0.5,0,1\n"),
            "row 1, column 1 (counted from 0): expected an integer state index or one of the variable's values",
        ),
        (
            "fit",
            lambda f: _write(f, "word.csv", "0,1,0,1\n1,0,x,1\n"),
            "line 2, column 2 (lines counted from 1, columns from 0): expected a number; found 'x'",
        ),
        ("fit", lambda f: _write(f, "ragged.csv", "0,1,0,1\n1,0,1\n"), "line 2 has 3 fields; the first row has 4"),
        (
            "fit",
            lambda f: _write(f, "range.csv", "0,1,0,1\n1,0,2,1\n"),
            "row 1, column 2 (counted from 0): state 2 is out of range",
        ),
        ("fit", lambda f: _write(f, "data.txt", "0,1,0,1\n"), "unknown data file type '.txt'"),
        ("exact", lambda f: f / "missing.csv", "missing.csv: no such data file"),
    ],
)
def test_bad_data_exits_1_with_one_line(files, capsys, command, make, needle):
    folder, _ = files
    code, text, err = run(capsys, command, folder / "model.toml", make(folder))
    assert code == 1 and text == ""
    assert err.startswith("factorgraph: error: ") and needle in err and err.count("\n") == 1, err


def test_npz_with_several_arrays_needs_a_key(files, capsys):
    folder, data = files
    np.savez(folder / "two.npz", a=data, b=data)
    code, _, err = run(capsys, "fit", folder / "model.toml", folder / "two.npz", "-q")
    assert code == 1 and "--data-key" in err
    assert run(capsys, "fit", folder / "model.toml", folder / "two.npz", "--data-key", "b", "-q")[0] == 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["fit", "{f}/missing.toml", "{f}/data.npy"], "missing.toml: cannot read the model file"),
        (["fit", "{f}/model.toml"], "targets come from data; pass a DATA file"),
        (["fit", "{f}/fitted.npz", "{f}/data.npy"], "'fit' needs a TOML model file"),
        (["sample", "{f}/fitted.npz", "-n", "5", "-o", "{f}/draws.txt"], "name the file .npy or .csv"),
        (["sample", "{f}/model.toml", "-n", "5", "--theta", "{f}/other.npz"], "another model"),
        (["info", "{f}/nothing.npz"], "nothing.npz"),
        (["fit", "{f}/model.toml", "{f}/data.npy", "-o", "{f}/out.bin"], "name the file something.npz"),
        (["exact", "{f}/model.toml", "{f}/data.npy", "-o", "{f}/no/out.npz"], "does not exist"),
        (["fit", "{f}/model.toml", "{f}/data.npy", "--plot", "{f}/fit.nope"], "cannot draw a plot as 'nope'"),
    ],
)
def test_library_errors_exit_1(files, capsys, argv, needle):
    folder, _ = files
    fg.load_spec(folder / "model.toml").graph.save(folder / "fitted.npz", theta=np.zeros(7))
    other = fg.FactorGraph()
    other.add_variables(7, values=[-1, 1])
    other.add_features(fg.features.Product(np.arange(7)))
    other.save(folder / "other.npz", theta=np.zeros(7))
    if "--plot" in argv:
        pytest.importorskip("matplotlib")
    code, _, err = run(capsys, *[a.format(f=folder) for a in argv])
    assert code == 1 and err.startswith("factorgraph: error: ") and needle in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["fit"],
        ["sample", "m.npz"],
        ["fit", "m.toml", "d.npy", "--steps", "-1"],
        ["sample", "m.npz", "-n", "0"],
        ["nonsense"],
        [],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "usage: factorgraph" in err


@pytest.mark.parametrize("command", ["demo", "fit", "sample", "exact", "info"])
def test_help_shows_examples(capsys, command):
    code, text, _ = run(capsys, command, "--help")
    assert code == 0 and "examples:" in text and f"  factorgraph {command}" in text


def test_top_level_help_and_version(capsys):
    code, text, _ = run(capsys, "--help")
    assert code == 0 and "exit codes: 0 success, 1 error" in text
    code, text, _ = run(capsys, "--version")
    assert code == 0 and text.startswith("factorgraph-maxent ")


def _module(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "factorgraph", *map(str, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_python_m_factorgraph_exit_codes(files):
    folder, _ = files
    done = _module("fit", "model.toml", "data.npy", "-o", "out.npz", "--steps", "5", cwd=folder)
    assert done.returncode == 0 and "converged:" in done.stdout and (folder / "out.npz").exists()
    done = _module("fit", "model.toml", "missing.npy", cwd=folder)
    assert done.returncode == 1 and done.stderr == "factorgraph: error: missing.npy: no such data file.\n"
    done = _module("sample", "out.npz", cwd=folder)
    assert done.returncode == 2 and "the following arguments are required: -n" in done.stderr


def test_debug_shows_the_traceback(files):
    folder, _ = files
    done = _module("--debug", "fit", "model.toml", "missing.npy", cwd=folder)
    assert done.returncode == 1 and "Traceback" in done.stderr and "DataError" in done.stderr


# -- progress bars and logging in the library -----------------------------------------------------


def test_progress_bars_show_rates(files, capsys, monkeypatch):
    monkeypatch.setenv("TQDM_MININTERVAL", "0")
    folder, data = files
    fg.load_spec(folder / "model.toml").fit(data, progress=True, max_steps=12)
    err = capsys.readouterr().err
    assert "fit:" in err and "mismatch=" in err and "updates=" in err and "/s" in err
    graph = fg.load_spec(folder / "model.toml").graph
    with_bar = fg.sample(graph, np.zeros(7), 50, burn_in=30, seed=1, n_threads=1, progress=True)
    err = capsys.readouterr().err
    assert "sample:" in err and "sweep" in err and "updates=" in err
    np.testing.assert_array_equal(
        with_bar, fg.sample(graph, np.zeros(7), 50, burn_in=30, seed=1, n_threads=1, progress=False)
    )


def test_progress_is_off_when_not_a_terminal(monkeypatch):
    from factorgraph._progress import auto_progress

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setattr(sys, "stderr", open(os.devnull, "w"))
    try:
        assert auto_progress() is False
    finally:
        sys.stderr.close()


def test_library_modules_do_not_print():
    """Only the command line and show_config (a report printed to a given stream) print."""
    allowed = {"cli.py", "_cli_demo.py", "_cli_commands.py", "_cli_info.py", "_cli_alignment.py", "_config.py"}
    offenders = []
    for package in ("factorgraph", "samplers", "objectives"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name in allowed or "datasets_data" in path.parts or "tests" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


# -- fit --scheduler ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::factorgraph.ShardingOverheadWarning")
def test_fit_on_a_dask_scheduler_gives_the_single_machine_theta(files, capsys):
    pytest.importorskip("distributed")
    from tests._cluster import shared_client

    folder, data = files
    out = folder / "sharded.npz"
    address = shared_client().scheduler.address
    code, text, err = run(
        capsys, "fit", folder / "model.toml", folder / "data.npy", "--scheduler", address, "-o", out, "-q"
    )
    assert code == 0, err
    assert "steps: 25 in" in text
    np.testing.assert_array_equal(fg.load(out)[1], reference_fit(folder / "model.toml", data).theta)


def test_fit_with_an_unreachable_scheduler_names_it(files, capsys, monkeypatch):
    pytest.importorskip("distributed")
    from factorgraph import _cli_commands

    monkeypatch.setattr(_cli_commands, "CONNECT_TIMEOUT", 0.5)
    folder, _ = files
    code, _, err = run(
        capsys, "fit", folder / "model.toml", folder / "data.npy", "--scheduler", "tcp://127.0.0.1:9", "-q"
    )
    assert code == 1
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in err


# -- check ------------------------------------------------------------------------------------------


@pytest.fixture
def exact_theta(files):
    """The model file's exact fit to the data, as a fitted .npz (what fit -o writes)."""
    folder, data = files
    spec = fg.load_spec(folder / "model.toml")
    theta = fg.exact.fit(spec.graph, objectives=spec.objectives_for(data)).theta
    spec.graph.save(folder / "exact.npz", theta=theta)
    return theta


def test_check_passes_the_exact_fit_and_reports_what_assess_finds(files, exact_theta, capsys):
    folder, data = files
    code, text, err = run(capsys, "check", folder / "model.toml", folder / "exact.npz", folder / "data.npy", "-q")
    assert code == 0, text + err
    spec = fg.load_spec(folder / "model.toml")
    expected = fg.assess(
        spec.graph, exact_theta, spec.objectives_for(data)[0].target, seed=3, n_threads=1, progress=False
    )
    assert expected.ok() and expected.equilibrated
    assert f"mismatch: rms z {expected.rms:.3g} (bound {expected.rms_bound:.3g}), max |z| {expected.max:.3g}" in text
    assert f"burn-in: {expected.burn_in} sweeps, split R-hat {expected.rhat:.4g}" in text
    assert f"pearson of connected correlations (target vs model): {expected.pearson:.4g}" in text
    assert "chains: 256 fresh 'gibbs' chains, equilibrated" in text
    assert text.count("\n  feature ") == 5
    assert all(f"\n  {line}\n" in text for line in expected.describe(spec.graph, 5))  # the same bits
    assert text.rstrip().endswith("verdict: the model matches its targets within noise") and err == ""


def test_check_exits_3_when_the_model_does_not_match(files, capsys):
    folder, _ = files
    np.save(folder / "zero.npy", np.zeros(7))  # no coupling, while the data couple spins 0 and 1 strongly
    code, text, _ = run(
        capsys, "check", folder / "model.toml", folder / "zero.npy", folder / "data.npy", "-q", "--worst", "1"
    )
    assert code == 3 and "verdict: the model does NOT match its targets" in text
    assert text.count("\n  feature ") == 1 and "feature 4 (group 'couplings', scope (0, 1)): z +" in text


def test_check_exits_4_when_the_chains_do_not_equilibrate(files, exact_theta, capsys):
    folder, _ = files
    # one round of 16 sweeps holds 8 draws per chain: never the 10 independent draws the test needs
    code, text, _ = run(
        capsys,
        "check",
        folder / "model.toml",
        folder / "exact.npz",
        folder / "data.npy",
        "-q",
        "--max-sweeps",
        "16",
        "--chains",
        "32",
    )
    assert code == 4 and "chains: 32 fresh 'gibbs' chains, NOT equilibrated" in text
    assert "verdict: the fresh chains did not equilibrate; raise --max-sweeps or --time-budget" in text


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".txt"])
def test_check_reads_theta_as_numbers(files, exact_theta, capsys, suffix):
    folder, _ = files
    path = folder / f"theta{suffix}"
    if suffix == ".npy":
        np.save(path, exact_theta)
    else:
        np.savetxt(path, exact_theta, delimiter=",", fmt="%.17g")
    common = (folder / "model.toml", path, folder / "data.npy", "-q", "--chains", "64", "--seed", "5")
    code, text, _ = run(capsys, "check", *common)
    reference = run(capsys, "check", folder / "model.toml", folder / "exact.npz", *common[2:])
    assert code == reference[0] == 0 and text.split("in all")[1] == reference[1].split("in all")[1]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["{f}/theta.npy", "{f}/data.npy"], "theta.npy: expected 7 numbers"),
        (["{f}/exact.npz"], "the model's targets come from data; pass a DATA file (factorgraph check"),
        (["{f}/exact.npz", "{f}/data.npy", "--chains", "1"], "'n_chains' argument of assess must be an int >= 2"),
        (["{f}/nan.txt", "{f}/data.npy"], "'theta' argument of assess must be finite"),
    ],
)
def test_check_errors_exit_1(files, exact_theta, capsys, argv, needle):
    folder, _ = files
    np.save(folder / "theta.npy", np.zeros(5))
    (folder / "nan.txt").write_text("0\n0\nnan\n0\n0\n0\n0\n")
    code, text, err = run(capsys, "check", folder / "model.toml", *[a.format(f=folder) for a in argv], "-q")
    assert code == 1 and text == "" and err.startswith("factorgraph: error: ") and needle in err, err


def test_check_needs_a_target_for_every_feature(files, capsys):
    folder, _ = files
    penalty = MODEL.replace(
        'name = "moment-matching"\ntarget = { from = "data", pseudocount = 0.05 }', 'name = "l2"\nstrength = 0.1'
    )
    (folder / "penalty.toml").write_text(penalty)
    np.save(folder / "theta.npy", np.zeros(7))
    code, _, err = run(capsys, "check", folder / "penalty.toml", folder / "theta.npy", "-q")
    assert code == 1 and "no moment-matching objective gives one for 7 of 7 features" in err
    assert "feature 0 (group 'fields', scope (0,))" in err


def test_check_help_documents_its_exit_codes(capsys):
    code, text, _ = run(capsys, "check", "--help")
    assert code == 0 and "  factorgraph check model.toml fitted.npz data.npy" in text
    assert "0 the model matches its targets within noise, 3 it does not" in text and "4 the chains did not" in text
    code, text, _ = run(capsys, "--help")
    assert "3 check: the model does not" in text and "4 check: the fresh chains did not equilibrate" in text


# -- alignments and contacts -----------------------------------------------------------------------


@pytest.fixture
def family(tmp_path):
    """An RNA alignment of 6 sites sampled from a Potts model with sites 1 and 4 coupled."""
    from factorgraph.alignment import write_fasta
    from factorgraph.potts import potts_model

    cg = potts_model(6, 5).compile()
    theta = np.zeros(cg.n_features)
    pair = [tuple(p) for p in zip(*np.triu_indices(6, 1))].index((1, 4))
    theta[30 + 25 * pair : 30 + 25 * (pair + 1)] = 2.0 * np.eye(5).ravel()
    states = fg.sample(cg, theta, 400, seed=1, progress=False)
    write_fasta(tmp_path / "family.fasta", states, "rna")
    return tmp_path


def test_fit_an_alignment_and_rank_its_contacts(family, capsys):
    from factorgraph.alignment import read_alignment
    from factorgraph.potts import potts_model_file

    out = family / "potts.npz"
    code, text, err = run(
        capsys,
        "fit",
        family / "family.fasta",
        "--alphabet",
        "rna",
        "--steps",
        "40",
        "--pseudocount",
        "0.01",
        "--seed",
        "5",
        "-o",
        out,
        "-q",
    )
    assert code == 0, err
    assert "steps: 40 in" in text and f"saved: {out}" in text
    alignment = read_alignment(family / "family.fasta", "rna")
    spec = fg.parse_spec(potts_model_file(6, 5, 0.01))
    expected = spec.fit(alignment.states, alignment.weights, progress=False, max_steps=40, seed=5)
    graph, theta = fg.load(out)
    np.testing.assert_array_equal(theta, expected.theta)
    code, text, err = run(capsys, "contacts", out, "--top", "3")
    lines = text.splitlines()
    assert code == 0 and lines[0] == "i\tj\tscore\t(sites counted from 0)" and len(lines) == 4
    assert lines[1].split("\t")[:2] == ["1", "4"]  # the planted pair first
    code, text, _ = run(capsys, "contacts", out, "-o", family / "contacts.csv")
    assert code == 0 and len((family / "contacts.csv").read_text().splitlines()) == 1 + 15
    code, text, _ = run(capsys, "contacts", out, "--min-separation", "4")
    assert code == 0 and len(text.splitlines()) == 1 + 3  # (0, 4), (0, 5), (1, 5)


def test_alignment_fits_refuse_data_files(family, capsys):
    np.save(family / "data.npy", np.zeros((3, 6), int))
    code, _, err = run(capsys, "fit", family / "family.fasta", family / "data.npy")
    assert code == 1 and "is an alignment: its sequences are the data" in err
    code, _, err = run(capsys, "contacts", family / "family.fasta")
    assert code == 1 and "needs a fitted model (.npz)" in err
