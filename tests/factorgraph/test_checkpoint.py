"""Checkpoints: exact resume (also in a new process), crash safety, corruption, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import factorgraph as fg
import objectives
import samplers
from factorgraph import checkpoint
from tests.samplers._models import frustrated_ising

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIT = dict(tol=1e-12, window=6, check_every=3, decay_on_plateau=0.5, patience=4, progress=False)
N = 12


def _model():
    g, theta_star = frustrated_ising()
    return g, fg.exact.expectations(g, theta_star)


def _trainer(folder=None, sampler="gibbs", every=5, **options):
    """Moment matching + a KL marginal prior + L1, Adam with a schedule, Polyak averaging."""
    g, target = _model()
    terms = [
        objectives.MomentMatching(target),
        objectives.MarginalPrior((0, 1), [[0.3, 0.2], [0.2, 0.3]], strength=0.5),
        objectives.L1(0.01),
    ]
    optimizer = fg.optim.Adam(lr=fg.optim.warmup(fg.optim.inverse_time(0.05, 20, 0.6), 4))
    return fg.Trainer(
        g,
        terms,
        sampler=sampler,
        n_chains=64,
        seed=7,
        optimizer=optimizer,
        average_from=5,
        n_threads=1,
        checkpoint_dir=folder,
        checkpoint_every=every if folder else None,
        **options,
    )


def _assert_same(a, b):
    """Two trainers in exactly the same state: θ, chains, optimizer, averaging, monitor, history."""
    np.testing.assert_array_equal(a.theta, b.theta)
    sa, sb = a.sampler.get_state(), b.sampler.get_state()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
    oa, ob = a.optimizer.get_state(), b.optimizer.get_state()
    assert oa.keys() == ob.keys()
    for key in oa:
        np.testing.assert_array_equal(oa[key], ob[key], err_msg=key)
    np.testing.assert_array_equal(a.average.mean, b.average.mean)
    assert a.average.t == b.average.t and a.step_count == b.step_count
    assert a.convergence.plateau.get_state() == b.convergence.plateau.get_state()
    wa, wb = a.convergence.stability.get_state(), b.convergence.stability.get_state()
    assert wa["count"] == wb["count"]
    np.testing.assert_array_equal(wa["sum"], wb["sum"])
    np.testing.assert_array_equal(wa.get("previous"), wb.get("previous"))
    for key in a.history:
        if key != "time":
            np.testing.assert_array_equal(np.array(a.history[key]), np.array(b.history[key]), err_msg=key)


def test_two_fits_equal_one_fit_of_twice_the_steps():
    once = _trainer()
    result = once.fit(max_steps=2 * N, **FIT)
    twice = _trainer()
    first, second = twice.fit(max_steps=N, **FIT), twice.fit(max_steps=N, **FIT)
    _assert_same(once, twice)
    np.testing.assert_array_equal(result.theta, second.theta)
    assert first.n_steps == second.n_steps == N and len(twice.history["mismatch"]) == 2 * N
    for key in result.history:
        if key != "time":
            np.testing.assert_array_equal(
                result.history[key], np.concatenate([first.history[key], second.history[key]])
            )
    assert np.all(np.diff(twice.history["time"]) >= 0)  # one clock over both calls


def test_reset_convergence_forgets_windows_but_not_theta():
    trainer = _trainer()
    trainer.fit(max_steps=N, **FIT)
    theta = trainer.theta.copy()
    trainer.reset_convergence()
    state = trainer.convergence
    assert state.stability is None and state.plateau is None and not state.checked
    np.testing.assert_array_equal(trainer.theta, theta)


_RESUME = """
import sys, numpy as np, factorgraph as fg
trainer = fg.Trainer.resume(sys.argv[1], n_threads=1)
trainer.fit(max_steps={n}, **{fit!r})
state = trainer.sampler.get_state()
np.savez(sys.argv[2], theta=trainer.theta, states=state["states"], sums=state["block_sums"],
         mismatch=np.array(trainer.history["mismatch"]), m=trainer.optimizer.get_state()["m"],
         mean=trainer.average.mean, lr_scale=trainer.optimizer.lr_scale)
"""


def _env():
    return {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("sampler", ["gibbs", "mh"])
def test_resume_in_a_new_process_equals_the_uninterrupted_run(tmp_path, sampler):
    reference = _trainer(sampler=sampler)
    reference.fit(max_steps=2 * N, **FIT)
    folder = tmp_path / "run"
    first = _trainer(folder, sampler=sampler)
    first.fit(max_steps=N, **FIT)
    out = tmp_path / "resumed.npz"
    script = _RESUME.format(n=N, fit=FIT)
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(out)],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with np.load(out) as resumed:
        np.testing.assert_array_equal(resumed["theta"], reference.theta)
        state = reference.sampler.get_state()
        np.testing.assert_array_equal(resumed["states"], state["states"])
        np.testing.assert_array_equal(resumed["sums"], state["block_sums"])
        np.testing.assert_array_equal(resumed["mismatch"], reference.history["mismatch"])
        np.testing.assert_array_equal(resumed["m"], reference.optimizer.get_state()["m"])
        np.testing.assert_array_equal(resumed["mean"], reference.average.mean)
        assert resumed["lr_scale"] == reference.optimizer.lr_scale
    # the new process's last checkpoint holds the uninterrupted run's whole state
    again = fg.Trainer.resume(folder, n_threads=1)
    assert again.step_count == 2 * N and again.resume_args["max_steps"] == 0
    _assert_same(reference, again)


def test_exact_marginal_and_every_objective_describe_themselves():
    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(fg.features.Product([(0, 1), (1, 2)]))
    exact = objectives.ExactMarginal([1, 2], [[0.1, 0.2], [0.3, 0.4]])
    exact.add_to(g)
    terms = [
        objectives.MomentMatching(np.zeros(g.n_features)),
        exact,
        objectives.L2(np.full(g.n_features, 0.1)),
        objectives.L1(0.2),
        objectives.MarginalPrior([0, 2], [[0.1, 0.4], [0.2, 0.3]], kind="l2"),
    ]
    for term in terms:
        name, params = term.config()
        rebuilt = objectives.get(name).from_config(params)
        assert type(rebuilt) is type(term)
        for key, value in vars(term).items():
            np.testing.assert_array_equal(getattr(rebuilt, key), value, err_msg=f"{name}.{key}")


def test_schedules_and_optimizers_describe_themselves():
    opt = fg.optim
    for schedule in (
        opt.constant(0.1),
        opt.inverse_time(0.1, 10, 0.7),
        opt.exponential(0.2, 0.5, 3),
        opt.cosine(0.1, 50, 0.01),
        opt.warmup(opt.cosine(0.1, 50), 5),
    ):
        rebuilt = opt.Schedule.from_config(json.loads(json.dumps(schedule.config())))
        assert rebuilt == schedule and [rebuilt(t) for t in range(60)] == [schedule(t) for t in range(60)]
    sgd = opt.SGD(lr=0.3, momentum=0.5, nesterov=True)
    assert repr(opt.Optimizer.from_config(sgd.config())) == repr(sgd)


def test_a_resumed_run_with_exact_marginal_restores_its_features(tmp_path):
    g = fg.FactorGraph()
    g.add_variables(3, values=[-1, 1])
    g.add_features(fg.features.Product([(0, 1)]))
    exact = objectives.ExactMarginal([1, 2], [[0.1, 0.2], [0.3, 0.4]])
    exact.add_to(g)
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(np.r_[0.1, exact.moments]), exact],
        n_chains=32,
        seed=1,
        n_threads=1,
        checkpoint_dir=tmp_path,
    )
    trainer.fit(max_steps=3, tol=0.0, progress=False)
    resumed = fg.Trainer.resume(tmp_path)
    np.testing.assert_array_equal(resumed.objectives[1].feature_ids, exact.feature_ids)


_KILLED = """
import os, sys, numpy as np, factorgraph as fg
from factorgraph import checkpoint
from tests.factorgraph.test_checkpoint import _trainer
trainer = _trainer(sys.argv[1], every=5)
trainer.fit(max_steps=5, tol=0.0, progress=False)
np.save(sys.argv[2], trainer.theta)
original, calls = checkpoint._write_file, []
def dying(path, data):
    calls.append(path)
    if len(calls) == 2:  # between the first and the second file of the next checkpoint
        os._exit(9)
    original(path, data)
checkpoint._write_file = dying
trainer.fit(max_steps=5, tol=0.0, progress=False)
"""


def test_a_crash_mid_save_leaves_the_previous_checkpoint(tmp_path):
    folder, theta = tmp_path / "run", tmp_path / "theta.npy"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, str(folder), str(theta)],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr
    assert sorted(os.listdir(folder)) == ["ckpt-000005", "ckpt-000010.tmp", "latest"]
    assert [os.path.basename(p) for p in checkpoint.list_checkpoints(folder)] == ["ckpt-000005"]
    with pytest.raises(fg.CheckpointCorruptedError, match="manifest"):
        checkpoint.read(folder / "ckpt-000010.tmp")
    resumed = fg.Trainer.resume(folder)
    assert resumed.step_count == 5
    np.testing.assert_array_equal(resumed.theta, np.load(theta))
    resumed.fit(max_steps=5, tol=0.0, progress=False)  # the next write removes the partial folder
    assert sorted(os.listdir(folder)) == ["ckpt-000005", "ckpt-000010", "latest"]


def _two_checkpoints(tmp_path):
    folder = tmp_path / "run"
    trainer = _trainer(folder, every=5)
    trainer.fit(max_steps=10, tol=0.0, progress=False)
    return folder, folder / "ckpt-000010"


def _truncate(path):
    data = (path / "state.npz").read_bytes()
    (path / "state.npz").write_bytes(data[: len(data) // 2])


def _flip(path):
    data = bytearray((path / "graph.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (path / "graph.npz").write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, match",
    [
        (_truncate, "truncated"),
        (_flip, "SHA-256"),
        (lambda p: os.remove(p / "manifest.json"), "no manifest"),
        (lambda p: (p / "manifest.json").write_text("{not json"), "unreadable manifest"),
        (lambda p: os.remove(p / "trainer.json"), "missing"),
    ],
)
def test_damage_is_refused_and_resume_falls_back(tmp_path, damage, match):
    folder, newest = _two_checkpoints(tmp_path)
    good = checkpoint.read(folder / "ckpt-000005").theta
    damage(newest)
    with pytest.raises(fg.CheckpointCorruptedError, match=match):
        checkpoint.read(newest)
    with pytest.warns(fg.CheckpointFallbackWarning, match=r"ckpt-000010.*Falling back to ckpt-000005"):
        resumed = fg.Trainer.resume(folder)
    assert resumed.step_count == 5
    np.testing.assert_array_equal(resumed.theta, good)


def test_no_intact_checkpoint_raises(tmp_path):
    folder, newest = _two_checkpoints(tmp_path)
    _flip(newest)
    _truncate(folder / "ckpt-000005")
    with pytest.raises(fg.CheckpointCorruptedError, match="No earlier checkpoint can be used"):
        fg.Trainer.resume(folder)
    with pytest.raises(fg.CheckpointError, match="No checkpoint"):
        fg.Trainer.resume(tmp_path / "empty")


def test_a_checkpoint_of_another_graph_is_refused(tmp_path):
    folder, _ = _two_checkpoints(tmp_path)
    g, _ = _model()
    assert fg.Trainer.resume(folder, graph=g).step_count == 10
    other = fg.FactorGraph()
    other.add_variables(4, values=[-1, 1])
    other.add_features(fg.features.Product([(0, 1)]))
    with pytest.raises(fg.CheckpointMismatchError, match="another model"):
        fg.Trainer.resume(folder, graph=other)
    with pytest.raises(fg.CheckpointMismatchError, match="another model"):
        checkpoint.read(folder / "ckpt-000005", fingerprint=other.compile().fingerprint())


def test_version_skew_is_refused_with_instructions(tmp_path):
    folder, newest = _two_checkpoints(tmp_path)
    for path in checkpoint.list_checkpoints(folder):
        file = os.path.join(path, "manifest.json")
        with open(file) as fh:
            manifest = json.load(fh)
        manifest["format_version"] = 99
        manifest["library_version"] = "9.9"
        with open(file, "w") as fh:
            json.dump(manifest, fh)
    with pytest.raises(fg.CheckpointMismatchError, match=r"version 99 .*Resume it with factorgraph-maxent 9.9"):
        fg.Trainer.resume(newest)
    with pytest.raises(fg.CheckpointMismatchError, match="version 99"):
        fg.Trainer.resume(folder)


def test_another_library_version_warns(tmp_path):
    folder, newest = _two_checkpoints(tmp_path)
    manifest = json.loads((newest / "manifest.json").read_text())
    manifest["library_version"] = "0.0.1"
    (newest / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(fg.CheckpointWarning, match="0.0.1"):
        assert fg.Trainer.resume(newest).step_count == 10


def test_keeps_the_last_two(tmp_path):
    folder = tmp_path / "run"
    trainer = _trainer(folder, every=3)
    trainer.fit(max_steps=11, tol=0.0, progress=False)  # 3, 6, 9 and the end of the call, 11
    assert sorted(os.listdir(folder)) == ["ckpt-000009", "ckpt-000011", "latest"]
    assert (folder / "latest").read_text() == "ckpt-000011"
    for path in checkpoint.list_checkpoints(folder):
        assert checkpoint.validate(path)["fingerprint"] == trainer.graph.fingerprint()
    with pytest.raises(fg.CheckpointError, match="already holds checkpoints"):
        _trainer(folder)
    other = _trainer()
    with pytest.raises(fg.CheckpointError, match="another run"):
        other.save_checkpoint(folder)


def test_what_cannot_be_described_is_refused_at_checkpoint_time(tmp_path):
    g, target = _model()

    class Custom(objectives.Objective):
        def value_and_grad(self, stats, theta):
            return 0.0, np.zeros_like(theta)

    trainer = fg.Trainer(
        g, [objectives.MomentMatching(target), Custom()], n_chains=16, seed=0, checkpoint_dir=tmp_path / "a"
    )
    with pytest.raises(fg.CheckpointError, match="Objective 1 \\(Custom\\).*config"):
        trainer.fit(max_steps=2, tol=0.0, progress=False)
    trainer = fg.Trainer(
        g,
        [objectives.MomentMatching(target)],
        n_chains=16,
        seed=0,
        optimizer=fg.optim.SGD(lr=lambda t: 0.1),
        checkpoint_dir=tmp_path / "b",
    )
    with pytest.raises(fg.CheckpointError, match="schedule"):
        trainer.fit(max_steps=2, tol=0.0, progress=False)
    ready = samplers.create("gibbs", trainer.graph, 16, seed=0)
    trainer = fg.Trainer(trainer.graph, [objectives.MomentMatching(target)], sampler=ready)
    with pytest.raises(fg.CheckpointError, match="ready sampler"):
        trainer.save_checkpoint(tmp_path / "c")


def test_a_sampler_that_drops_its_key_is_an_error_not_a_reseed(tmp_path, monkeypatch):
    folder, _ = _two_checkpoints(tmp_path)
    original = samplers.Gibbs.set_state

    def forgetful(self, state):
        original(self, state)
        self.key = np.array([1, 2], dtype=np.uint32)

    monkeypatch.setattr(samplers.Gibbs, "set_state", forgetful)
    with pytest.raises(fg.CheckpointError, match="reseed"):
        fg.Trainer.resume(folder)


def test_ctrl_c_stops_at_a_step_boundary_saves_and_resumes_exactly(tmp_path):
    reference = _trainer()
    reference.fit(max_steps=2 * N, **FIT)
    folder = tmp_path / "run"
    trainer = _trainer(folder, every=100)
    before = signal.getsignal(signal.SIGINT)

    def press_ctrl_c(info):
        if info["step"] == N:
            os.kill(os.getpid(), signal.SIGINT)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = trainer.fit(max_steps=2 * N, callback=press_ctrl_c, **FIT)
    assert signal.getsignal(signal.SIGINT) is before
    assert not result.converged and result.n_steps == N and trainer.step_count == N
    assert "interrupted" in result.message and "Trainer.resume" in result.message and "--resume" in result.message
    # the chains' running sums still agree with their states
    state = trainer.sampler.get_state()
    recomputed = trainer.graph.feature_sums(state["states"])
    np.testing.assert_allclose(state["block_sums"].sum(axis=0), recomputed, rtol=0, atol=1e-9)
    assert [os.path.basename(p) for p in checkpoint.list_checkpoints(folder)] == [f"ckpt-{N:06d}"]
    resumed = fg.Trainer.resume(folder)
    assert resumed.resume_args["max_steps"] == N
    resumed.fit(**resumed.resume_args, progress=False)
    _assert_same(reference, resumed)


def test_a_second_ctrl_c_aborts_at_once(tmp_path):
    trainer = _trainer(tmp_path / "run", every=100)
    before = signal.getsignal(signal.SIGINT)

    def press_twice(info):
        if info["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(max_steps=10, callback=press_twice, **FIT)
    assert signal.getsignal(signal.SIGINT) is before
    assert checkpoint.list_checkpoints(tmp_path / "run") == []


def test_ctrl_c_without_a_checkpoint_folder_says_so():
    trainer = _trainer()

    def press_ctrl_c(info):
        if info["step"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    result = trainer.fit(max_steps=10, callback=press_ctrl_c, **FIT)
    assert result.n_steps == 2 and "nothing was saved" in result.message


def test_a_default_trainer_resumes_exactly_across_its_landing_and_sweeps_changes(tmp_path):
    """The landing, the averaging it starts and the relaxation check (with its reference
    states and raised sweeps) are part of the checkpoint: resume equals the uninterrupted run."""
    from tests.factorgraph._hard_models import spin_glass

    g, terms, _ = spin_glass()
    options = dict(n_chains=64, seed=3, n_threads=1, relax_within=5)
    fit = dict(max_steps=60, tol=0.0, progress=False, assess=False)
    reference = fg.Trainer(g, terms, **options)
    reference.fit(**{**fit, "max_steps": 120})
    assert reference.landing.step is not None and reference.landing.step < 60 and reference.average is not None
    assert reference.history["sweeps"][0] < reference.history["sweeps"][-1]
    first = fg.Trainer(g, terms, checkpoint_dir=tmp_path / "run", **options)
    first.fit(**fit)
    resumed = fg.Trainer.resume(tmp_path / "run", n_threads=1)
    resumed.fit(**fit)
    np.testing.assert_array_equal(resumed.theta, reference.theta)
    np.testing.assert_array_equal(resumed.result_theta(), reference.result_theta())
    assert resumed.landing.get_state() == reference.landing.get_state()
    a, b = resumed.relaxation.get_state(), reference.relaxation.get_state()
    np.testing.assert_array_equal(a.pop("reference"), b.pop("reference"))
    assert a == b
    np.testing.assert_array_equal(resumed.average.stderr, reference.average.stderr)
    for key in ("sweeps", "tau", "lr_scale", "mismatch"):
        np.testing.assert_array_equal(resumed.history[key], reference.history[key], err_msg=key)
