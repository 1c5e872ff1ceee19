"""fg.plot: each plot renders to a PNG headlessly, and its axes hold the data it was given."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402

import factorgraph as fg  # noqa: E402
import objectives  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")  # pyplot keeps every figure alive otherwise, and warns past 20


def spin_model():
    """Four spins: fields, pairs on a 4-cycle with a chord, and a fixed base-measure field."""
    g = fg.FactorGraph()
    g.add_variables(4, values=[-1, 1])
    g.add_features(fg.features.Product(np.arange(4)), name="fields")
    g.add_features(fg.features.Product([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]), name="pairs")
    g.add_features(fg.features.Product([1]), name="fixed", trainable=False, theta_init=0.3)
    return g, np.array([0.2, -0.3, 0.1, 0.4, 0.9, -0.7, 0.8, -0.6, 1.1, 0.3])


@pytest.fixture(scope="module")
def fitted():
    g, theta_star = spin_model()
    target = fg.exact.expectations(g, theta_star)
    terms = [objectives.MomentMatching(target), objectives.L2(0.01)]
    result = fg.Trainer(g, terms, n_chains=200, seed=3, optimizer=fg.optim.Adam(lr=0.05)).fit(
        max_steps=60, tol=0.0, check_every=5, progress=False
    )
    return g, target, result


def save_png(fig, tmp_path, name):
    """Save, then check the file is a real PNG of non-trivial size with more than one colour."""
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 3000
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert pixels[..., :3].std() > 0.01  # something was drawn
    return path


def panel(fig, title):
    [ax] = [a for a in fig.axes if a.get_title() == title]
    return ax


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


# -- convergence -------------------------------------------------------------------------------


def test_convergence_draws_the_history_of_a_fit(fitted, tmp_path):
    _, _, result = fitted
    history = result.history
    fig = fg.plot.convergence(result, labels=["moments", "L2"])
    save_png(fig, tmp_path, "convergence")
    assert [ax.get_title() for ax in fig.axes] == [
        "Mismatch and residual",
        "Objective terms",
        "θ change",
        "Sampler",
        "Chains",
    ]
    steps = np.arange(1, result.n_steps + 1)

    mismatch = lines_by_label(panel(fig, "Mismatch and residual"))
    np.testing.assert_array_equal(mismatch["mismatch RMS"].get_ydata(), history["mismatch"])
    np.testing.assert_array_equal(mismatch["mismatch max"].get_ydata(), history["mismatch_max"])
    np.testing.assert_array_equal(mismatch["residual RMS"].get_ydata(), history["residual"])
    np.testing.assert_array_equal(mismatch["residual max"].get_ydata(), history["residual_max"])
    np.testing.assert_array_equal(mismatch["mismatch RMS"].get_xdata(), steps)
    np.testing.assert_array_equal(mismatch["noise level"].get_ydata(), [1, 1])
    assert panel(fig, "Mismatch and residual").get_yscale() == "log"

    # MomentMatching records no value (NaN column): only the L2 term is drawn
    terms = lines_by_label(panel(fig, "Objective terms"))
    assert list(terms) == ["L2"]
    np.testing.assert_array_equal(terms["L2"].get_ydata(), history["values"][:, 1])

    change = lines_by_label(panel(fig, "θ change"))
    np.testing.assert_array_equal(change["max |Δθ|"].get_ydata(), history["step_norm"])
    np.testing.assert_array_equal(change["gradient norm"].get_ydata(), history["grad_norm"])
    sampler = lines_by_label(panel(fig, "Sampler"))
    np.testing.assert_array_equal(sampler["change rate"].get_ydata(), history["change_rate"])
    np.testing.assert_array_equal(sampler["learning-rate factor"].get_ydata(), history["lr_scale"])


def test_convergence_skips_empty_series_and_draws_unknown_keys(tmp_path):
    n = 30
    history = {
        "mismatch": np.full(n, np.nan),  # no matching term
        "mismatch_max": np.full(n, np.nan),
        "step_norm": np.geomspace(1.0, 1e-3, n),
        "time": np.linspace(0.1, 3.0, n),
        "values": np.column_stack([np.full(n, np.nan), -np.linspace(1, 2, n), -np.linspace(3, 1, n)]),
        "custom_figure": np.linspace(5, 1, n),  # a key the module does not know
    }
    fig = fg.plot.convergence(history, x="time", fig=plt.figure())
    save_png(fig, tmp_path, "convergence_dict")
    assert [ax.get_title() for ax in fig.axes] == ["Objective terms", "θ change", "Other"]
    terms = lines_by_label(panel(fig, "Objective terms"))
    assert list(terms) == ["term 1", "term 2"]
    np.testing.assert_array_equal(terms["term 2"].get_ydata(), history["values"][:, 2])
    np.testing.assert_array_equal(terms["term 2"].get_xdata(), history["time"])
    np.testing.assert_array_equal(
        lines_by_label(panel(fig, "Other"))["custom figure"].get_ydata(), history["custom_figure"]
    )
    assert fig.axes[-1].get_xlabel() == "time (s)"


def test_convergence_checks_its_arguments(fitted):
    _, _, result = fitted
    with pytest.raises(fg.ModelSpecError, match="labels"):
        fg.plot.convergence(result, labels=["only one"])
    with pytest.raises(fg.ModelSpecError, match="'x'"):
        fg.plot.convergence(result, x="sweeps")


# -- moments -----------------------------------------------------------------------------------


def errorbar_halves(ax):
    """The half-length of every vertical error bar, in drawing order."""
    bars = [c for c in ax.collections if isinstance(c, LineCollection)]
    return [np.array([(seg[1, 1] - seg[0, 1]) / 2 for seg in c.get_segments()]) for c in bars]


def test_moments_from_chain_states_with_their_standard_errors(fitted, tmp_path):
    g, target, result = fitted
    ax = fg.plot.moments(g, result, target)  # a FitResult gives θ and its final states
    save_png(ax.figure, tmp_path, "moments")
    values = g.compile().feature_values(result.states)  # (n_chains, n_features), computed another way
    mean = values.mean(axis=0)
    se = values.std(axis=0) / np.sqrt(len(values))
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [p.get_label() for p in points] == ["fields", "pairs"]  # the fixed group is left out
    for p, ids in zip(points, (np.arange(4), np.arange(4, 9))):
        np.testing.assert_allclose(p.get_offsets(), np.column_stack([target[ids], mean[ids]]), rtol=0, atol=1e-12)
    halves = errorbar_halves(ax)
    np.testing.assert_allclose(np.concatenate(halves), se[:9], rtol=1e-9, atol=1e-12)
    r = np.corrcoef(target[:9], mean[:9])[0, 1]
    assert ax.get_title() == f"Model against target moments (r = {r:.4g})"
    diagonal = lines_by_label(ax)["y = x"]
    np.testing.assert_array_equal(diagonal.get_xdata(), diagonal.get_ydata())


def test_moments_exact_without_states_and_chosen_groups(tmp_path):
    g, theta = spin_model()
    target = fg.exact.expectations(g, theta) + 0.01
    target[5] = np.nan  # not matched: left out
    ax = fg.plot.moments(g.compile(), theta, target, groups=["pairs"], by_group=False)
    save_png(ax.figure, tmp_path, "moments_exact")
    [points] = [c for c in ax.collections if isinstance(c, PathCollection)]
    ids = np.array([4, 6, 7, 8])
    exact = fg.exact.expectations(g, theta)
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([target[ids], exact[ids]]), atol=1e-12)
    assert errorbar_halves(ax) == []  # exact means carry no Monte Carlo error
    assert ax.get_ylabel() == "model mean (exact)"


def test_moments_of_an_exact_fit_and_of_a_chosen_fixed_group():
    g, theta = spin_model()
    target = fg.exact.expectations(g, theta)
    fit = fg.exact.fit(g, target, theta0=g.theta_init())
    ax = fg.plot.moments(g, fit, target, groups=["fixed", "fields"])  # no states: exact
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [p.get_label() for p in points] == ["fields", "fixed"]  # θ order; named, so the fixed one shows
    model = fg.exact.expectations(g, fit.theta)
    np.testing.assert_allclose(points[1].get_offsets(), [[target[9], model[9]]], atol=1e-12)


def test_moments_checks_its_arguments():
    g, theta = spin_model()
    with pytest.raises(fg.UnknownGroupError, match="couplings"):
        fg.plot.moments(g, theta, np.zeros(g.n_features), groups=["couplings"])
    with pytest.raises(fg.DataError, match="target"):
        fg.plot.moments(g, theta, np.zeros(3))
    with pytest.raises(fg.DataError, match="states"):
        fg.plot.moments(g, theta, np.zeros(g.n_features), states=np.full((5, 4), 2))


# -- marginals ---------------------------------------------------------------------------------


def test_marginals_from_chains_against_data(fitted, tmp_path):
    g, _, result = fitted
    data = fg.exact.sample(g, spin_model()[1], 500, seed=1)
    fig = fg.plot.marginals(g, result, scopes=[2, (0, 1)], data=data)
    save_png(fig, tmp_path, "marginals")
    assert [ax.get_title() for ax in fig.axes] == ["P(x2)", "P(x0, x1)"]
    states, n = result.states, len(result.states)
    one = np.array([np.mean(states[:, 2] == a) for a in (0, 1)])
    two = np.array([np.mean((states[:, 0] == a) & (states[:, 1] == b)) for a in (0, 1) for b in (0, 1)])
    data_two = np.array([np.mean((data[:, 0] == a) & (data[:, 1] == b)) for a in (0, 1) for b in (0, 1)])
    for ax, model in zip(fig.axes, (one, two)):
        model_bars = ax.containers[1]  # [errorbar, model bars, target bars]
        np.testing.assert_allclose([b.get_height() for b in model_bars], model, atol=1e-12)
        np.testing.assert_allclose(errorbar_halves(ax)[0], np.sqrt(model * (1 - model) / n), atol=1e-12)
    np.testing.assert_allclose([b.get_height() for b in fig.axes[1].containers[2]], data_two, atol=1e-12)
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["-1,-1", "-1,1", "1,-1", "1,1"]


def test_marginals_exact_against_tables(tmp_path):
    g, theta = spin_model()
    table = np.array([[0.4, 0.1], [0.1, 0.4]])
    fig = fg.plot.marginals(g, theta, scopes=[(1, 3), 0, 2, 3], target=[table, [0.5, 0.5], [0.3, 0.7], [1, 0]])
    save_png(fig, tmp_path, "marginals_exact")
    assert len(fig.axes) == 4
    bars = fig.axes[0].containers
    np.testing.assert_allclose([b.get_height() for b in bars[0]], fg.exact.marginal(g, theta, (1, 3)).ravel())
    np.testing.assert_allclose([b.get_height() for b in bars[1]], table.ravel())
    assert errorbar_halves(fig.axes[0]) == []


def test_marginals_checks_its_arguments():
    g, theta = spin_model()
    with pytest.raises(fg.ModelSpecError, match="one or two variables"):
        fg.plot.marginals(g, theta, scopes=[(0, 1, 2)])
    with pytest.raises(fg.DataError, match="one per scope"):
        fg.plot.marginals(g, theta, scopes=[0, 1], target=[[0.5, 0.5]])
    with pytest.raises(fg.DataError, match="shape"):
        fg.plot.marginals(g, theta, scopes=[0], target=[[0.2, 0.3, 0.5]])
    with pytest.raises(fg.DataError, match="both"):
        fg.plot.marginals(g, theta, scopes=[0], target=[[0.5, 0.5]], data=[[0, 0, 0, 0]])


# -- couplings ---------------------------------------------------------------------------------


def test_coupling_matrix_is_symmetric_with_gaps_where_no_pair_is():
    g, theta = spin_model()
    variables, matrix = fg.plot.coupling_matrix(g, theta, "pairs")
    expected = np.full((4, 4), np.nan)
    for (a, b), value in zip([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)], theta[4:9]):
        expected[a, b] = expected[b, a] = value
    np.testing.assert_array_equal(variables, np.arange(4))
    np.testing.assert_array_equal(matrix, expected)


def test_couplings_as_a_matrix(tmp_path):
    g, theta = spin_model()
    ax = fg.plot.couplings(g, theta, group="pairs")
    save_png(ax.figure, tmp_path, "couplings_matrix")
    [image] = ax.get_images()
    expected = fg.plot.coupling_matrix(g, theta, "pairs")[1]
    np.testing.assert_array_equal(np.ma.filled(image.get_array(), np.nan), expected)
    assert image.norm.vmin == -1.1 and image.norm.vmax == 1.1  # centred at 0
    assert len(ax.figure.axes) == 2  # the plot and its colour bar
    assert ax.get_title() == "Couplings of group 'pairs'"


def test_couplings_on_a_layout(tmp_path):
    g, theta = spin_model()
    pos = {0: (0, 0), 1: (1, 0), 2: (1, 1), 3: (0, 1)}
    fig, ax = plt.subplots()
    assert fg.plot.couplings(g, theta, "pairs", layout="graph", pos=pos, ax=ax) is ax
    save_png(fig, tmp_path, "couplings_graph")
    [edges] = [c for c in ax.collections if isinstance(c, LineCollection)]
    np.testing.assert_array_equal(edges.get_array(), theta[4:9])
    scopes = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]
    np.testing.assert_array_equal(np.array(edges.get_segments()), [[pos[a], pos[b]] for a, b in scopes])
    widths = np.asarray(edges.get_linewidths())
    assert widths.argmax() == 4 and widths.argmin() == 3  # |θ| 1.1 widest, 0.6 thinnest
    np.testing.assert_allclose(widths, 0.5 + 3.0 * np.abs(theta[4:9]) / 1.1)
    # the default layout needs no positions
    fg.plot.couplings(g, theta, "pairs", layout="graph")


def test_couplings_picks_the_only_pairwise_group(tmp_path):
    g = fg.FactorGraph()
    g.add_variables(5, values=[-1, 1])
    g.add_features(fg.features.Product(np.arange(5)))
    g.add_features(fg.features.Product([(0, 4), (4, 2)]), name="J")
    theta = np.r_[np.zeros(5), 0.5, -0.25]
    ax = fg.plot.couplings(g, theta)
    assert ax.get_title() == "Couplings of group 'J'"
    variables, matrix = fg.plot.coupling_matrix(g, theta)
    np.testing.assert_array_equal(variables, [0, 2, 4])  # only the variables the group touches
    assert matrix[0, 2] == matrix[2, 0] == 0.5 and matrix[1, 2] == -0.25 and np.isnan(matrix[0, 1])


@pytest.mark.parametrize(
    "kind, match",
    [
        (lambda: fg.features.Product(np.arange(3)), "scopes of \\[1\\] variables"),
        (lambda: fg.features.Product([(0, 1, 2)]), "scopes of \\[3\\] variables"),
        (lambda: fg.features.Potential([(0, 1), (1, 2)]), "several features per pair"),
    ],
    ids=["fields", "triples", "potential"],
)
def test_couplings_refuses_a_group_that_is_not_pairwise(kind, match):
    g = fg.FactorGraph()
    g.add_variables(3, n_states=2)
    g.add_features(kind(), name="bad")
    theta = np.zeros(g.n_features)
    with pytest.raises(fg.ModelSpecError, match=match) as info:
        fg.plot.couplings(g, theta, group="bad")
    assert isinstance(info.value, fg.FactorGraphError)
    with pytest.raises(fg.ModelSpecError, match="exactly one pairwise group"):
        fg.plot.couplings(g, theta)


def test_couplings_checks_its_arguments():
    g, theta = spin_model()
    monkeypatch_limit = pytest.MonkeyPatch.context()
    with monkeypatch_limit as mp:
        from factorgraph import _plot_couplings

        mp.setattr(_plot_couplings, "_MAX_MATRIX", 3)
        with pytest.raises(fg.ModelTooLargeError, match="4 variables"):
            fg.plot.couplings(g, theta, "pairs")
    with pytest.raises(fg.UnknownGroupError, match="J"):
        fg.plot.couplings(g, theta, group="J")
    with pytest.raises(fg.ModelSpecError, match="layout"):
        fg.plot.couplings(g, theta, "pairs", layout="circle")
    with pytest.raises(fg.ModelSpecError, match="pos"):
        fg.plot.couplings(g, theta, "pairs", layout="graph", pos={0: (0, 0)})


# -- without matplotlib ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda g, t: fg.plot.convergence({"step_norm": np.ones(3)}),
        lambda g, t: fg.plot.moments(g, t, np.zeros(len(t))),
        lambda g, t: fg.plot.marginals(g, t, [0]),
        lambda g, t: fg.plot.couplings(g, t, "pairs"),
    ],
    ids=["convergence", "moments", "marginals", "couplings"],
)
def test_missing_matplotlib_says_how_to_install_it(monkeypatch, call):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import matplotlib...` raise ImportError
    g, theta = spin_model()
    with pytest.raises(fg.MissingDependencyError, match=r'pip install "factorgraph-maxent\[plot\]"') as info:
        call(g, theta)
    assert isinstance(info.value, ImportError) and isinstance(info.value, fg.FactorGraphError)


def test_importing_factorgraph_does_not_import_matplotlib():
    code = "import sys; import factorgraph as fg; fg.plot; sys.exit('matplotlib' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
