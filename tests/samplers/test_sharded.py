"""ShardedChains: chains split over the worker processes of a local Dask cluster.

* Training through it gives the single-process θ bit for bit, for 1, 2 and 3 shards, for
  Gibbs and MH, with averaged sweeps and with objectives that read marginal counts and
  weighted sums.
* A worker killed mid-training: the trainer rolls every shard back to its last checkpoint (in
  memory, or on disk) and ends with the uninterrupted run's θ and history.
* Checkpoints written with 2 shards resume on 1 and in one process, and the reverse.
* ``recovery="reseed"`` keeps every chain and warns; foreign versions and bad options are refused.

(The exact-distribution tests of test_exact_distribution.py run through it too.)
"""

import os
import shutil
import signal
import sys
import time

import numpy as np
import pytest

import factorgraph as fg
import objectives
import samplers
from samplers._shards import block_rows
from tests._cluster import shared_client

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::factorgraph.ShardingOverheadWarning")


def _model(n=16, seed=0):
    rng = np.random.default_rng(seed)
    g = fg.FactorGraph()
    g.add_variables(n, values=[-1, 1])
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.25]
    g.add_features(fg.features.Product([(i,) for i in range(n)]), name="fields")
    g.add_features(fg.features.Product(pairs), name="pairs")
    cg = g.compile()
    theta = rng.normal(0.0, 0.3, cg.n_features)
    data = fg.sample(cg, theta, 1000, seed=1, burn_in=200)
    return cg, fg.moments(cg, data, pseudocount=0.01), data


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def client():
    return shared_client()


def _trainer(cg, target, sampler="gibbs", prior=False, **options):
    terms = [objectives.MomentMatching(target)]
    if prior:  # reads the chains' marginal counts and weighted sums as well as their means
        terms.append(objectives.MarginalPrior((0, 1), np.full((2, 2), 0.25), kind="kl", strength=0.5))
    return fg.Trainer(cg, terms, sampler=sampler, n_chains=300, seed=7, optimizer=fg.optim.Adam(lr=0.05), **options)


def _fit(trainer, steps=20, **options):
    return trainer.fit(max_steps=steps, tol=0.0, progress=False, **options)


@pytest.mark.parametrize("n_shards", [1, 2, 3])
def test_twenty_steps_equal_the_single_process_run_bit_for_bit(model, client, n_shards):
    cg, target, _ = model
    local = _fit(_trainer(cg, target))
    sharded = _fit(_trainer(cg, target, cluster=client, n_shards=n_shards))
    assert np.array_equal(sharded.theta, local.theta)
    assert np.array_equal(sharded.states, local.states)
    assert np.array_equal(sharded.history["mismatch"], local.history["mismatch"])


@pytest.mark.parametrize(
    "inner, options",
    [
        ("gibbs", {"average_sweeps": True}),
        ("mh", {}),
        ("swendsen-wang", {}),
    ],
)
def test_other_samplers_averaging_and_priors_are_bit_for_bit_too(model, client, inner, options):
    cg, target, _ = model
    local = _trainer(cg, target, sampler=inner, prior=True, sweeps_per_step=3, **options)
    sharded = _trainer(cg, target, sampler=inner, prior=True, sweeps_per_step=3, cluster=client, n_shards=2, **options)
    a, b = _fit(local, 15), _fit(sharded, 15)
    assert np.array_equal(a.theta, b.theta)
    assert np.array_equal(a.history["residual"], b.history["residual"])
    assert isinstance(sharded.sampler, samplers.ShardedChains)
    state, expected = sharded.sampler.get_state(), local.sampler.get_state()
    assert state.keys() == expected.keys()
    for key in state:
        assert np.array_equal(state[key], expected[key]), key


def test_a_sharded_description_is_built_on_the_trainers_graph(model, client):
    cg, target, _ = model
    description = samplers.ShardedChains(inner="gibbs", client=client, n_shards=2)
    assert not description.bound and "not built" in repr(description)
    trainer = _trainer(cg, target, sampler=description)
    assert trainer.sampler.bound and trainer.sampler.n_chains == 300
    assert len(set(trainer.sampler.workers)) == 2
    assert np.array_equal(_fit(trainer).theta, _fit(_trainer(cg, target)).theta)


def _kill(pid, timeout=10.0):
    """SIGKILL a worker process and wait until it is dead (gone, or a zombie not yet reaped), so
    that the next call cannot still reach it."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.01)


def _kill_during(trainer, at_step, shard=1):
    """A callback that kills the worker process of ``shard`` once, after step ``at_step``."""
    done = []

    def callback(info):
        if info["step"] == at_step and not done:
            _, pid = trainer.sampler._actors[shard].where().result()
            _kill(pid)
            done.append(pid)

    return callback, done


@pytest.mark.parametrize(
    "on_disk, at_step, every, restored", [(False, 13, 5, 10), (True, 13, 5, 10), (False, 30, 5, 25), (False, 30, 7, 28)]
)
def test_a_worker_killed_mid_training_rolls_back_to_the_uninterrupted_result(
    model, tmp_path, on_disk, at_step, every, restored, caplog
):
    """Killed after step 13, the loss shows in step 14. Killed after the last step, it shows as
    that step's checkpoint is taken (every 5 steps), or as the final states are gathered (every
    7); either way the trainer replays from its last checkpoint."""
    cg, target, _ = model
    expected = _fit(_trainer(cg, target), 30)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster, set_as_default=False) as client:
            options = {"checkpoint_dir": tmp_path / "ckpt"} if on_disk else {}
            trainer = _trainer(cg, target, cluster=client, checkpoint_every=every, **options)
            callback, killed = _kill_during(trainer, at_step=at_step)
            with caplog.at_level("WARNING", logger="factorgraph"):
                result = _fit(trainer, 30, callback=callback)
            assert killed, "the worker was not killed"
            assert f"rolled back to step {restored}" in caplog.text
            assert len(trainer.sampler.workers) == 2 and trainer.sampler.n_chains == 300
            assert np.array_equal(result.theta, expected.theta)
            for key in ("mismatch", "grad_norm", "step_norm"):
                assert np.array_equal(result.history[key], expected.history[key]), key
            assert trainer.step_count == 30 and result.n_steps == 30
    finally:
        cluster.close()


def test_a_checkpoint_of_two_shards_resumes_on_one_and_in_one_process(model, client, tmp_path):
    cg, target, _ = model
    expected = _fit(_trainer(cg, target), 30).theta
    first = _trainer(cg, target, cluster=client, n_shards=2, checkpoint_dir=tmp_path / "two")
    _fit(first, 10)
    shutil.copytree(tmp_path / "two", tmp_path / "copy")  # each resume writes on into its folder
    on_one = fg.Trainer.resume(tmp_path / "two", cluster=client)
    assert isinstance(on_one.sampler, samplers.ShardedChains)
    assert np.array_equal(_fit(on_one, 20).theta, expected)
    local = fg.Trainer.resume(tmp_path / "copy")
    assert isinstance(local.sampler, samplers.Gibbs) and local.step_count == 10
    assert np.array_equal(_fit(local, 20).theta, expected)
    # the reverse: a single-process checkpoint continues on two shards
    single = _trainer(cg, target, checkpoint_dir=tmp_path / "one")
    _fit(single, 10)
    sharded = fg.Trainer.resume(tmp_path / "one", cluster=client)
    assert np.array_equal(_fit(sharded, 20).theta, expected)


def test_one_shard_state_restores_on_three_shards(model, client):
    cg, _, _ = model
    theta = np.linspace(-0.3, 0.3, cg.n_features)
    two = samplers.create("sharded", cg, 300, seed=3, inner="mh", client=client, n_shards=2)
    two.run(theta, 7)
    state = two.get_state()
    assert state["acceptance_counts"].sum() > 0
    three = samplers.ShardedChains(cg, 300, seed=3, inner="mh", client=client, n_shards=3)
    three.set_state(state)
    local = samplers.create("mh", cg, 300, seed=3)
    local.set_state(state)
    three.run(theta, 5), local.run(theta, 5)
    assert np.array_equal(three.states, local.states)
    assert np.array_equal(three.get_state()["acceptance_counts"], local.acceptance_counts)
    assert np.array_equal(three.stats().mean, local.stats().mean)


def test_reseed_keeps_every_chain_and_says_the_run_is_no_longer_reproducible(model):
    cg, _, _ = model
    theta = np.linspace(-0.3, 0.3, cg.n_features)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster, set_as_default=False) as client:
            sampler = samplers.ShardedChains(cg, 256, seed=1, inner="gibbs", client=client, recovery="reseed")
            sampler.run(theta, 5)
            saved = sampler.get_state()
            sampler.run(theta, 5)
            _, pid = sampler._actors[1].where().result()
            _kill(pid)
            with pytest.warns(fg.ShardReseededWarning, match="no longer bit-reproducible"):
                sampler.run(theta, 3)
            assert sampler.sweep == 13 and sampler.stats().n_chains == 256
            state = sampler.get_state()
            assert state["sweep"] == 13 and state["states"].shape == (256, cg.n_variables)
            # the other shard went on undisturbed ...
            c0, c1 = sampler.shard_chains[1]
            uninterrupted = samplers.create("gibbs", cg, 256, seed=1)
            uninterrupted.run(theta, 13)
            assert np.array_equal(state["states"][:c0], uninterrupted.states[:c0])
            # ... and the lost one restarted from the saved states (of sweep 5) at sweep 10
            restarted = samplers.create("gibbs", cg, c1 - c0, seed=1, first_chain=c0, block_size=sampler.block_size)
            start = restarted.get_state()
            start.update(
                states=saved["states"][c0:c1],
                sweep=10,
                block_sums=block_rows(saved["states"][c0:c1], cg, sampler.block_size),
            )
            restarted.set_state(start)
            restarted.run(theta, 3)
            assert np.array_equal(state["states"][c0:c1], restarted.states)
            recomputed = cg.feature_sums(state["states"])
            np.testing.assert_allclose(state["block_sums"].sum(axis=0), recomputed, rtol=1e-12, atol=1e-9)
    finally:
        cluster.close()


def test_rollback_without_a_saved_state_refuses_to_go_on(model):
    cg, _, _ = model
    theta = np.zeros(cg.n_features)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster, set_as_default=False) as client:
            sampler = samplers.ShardedChains(cg, 256, seed=1, inner="gibbs", client=client)
            sampler.run(theta, 2)
            saved = sampler.get_state()
            _, pid = sampler._actors[0].where().result()
            _kill(pid)
            with pytest.raises(fg.ShardLostError, match="lost shard 0") as lost:
                sampler.run(theta, 1)
            assert lost.value.shards == (0,)
            with pytest.raises(fg.ClusterError, match="call set_state"):
                sampler.stats()
            sampler.set_state(saved)
            sampler.run(theta, 1)
            local = samplers.create("gibbs", cg, 256, seed=1)
            local.run(theta, 3)
            assert np.array_equal(sampler.states, local.states)
    finally:
        cluster.close()


def test_workers_of_another_version_are_refused(model):
    cg, _, _ = model
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster, set_as_default=False) as client:
            client.run(_pretend_old_version)
            with pytest.raises(fg.ClusterError, match="another factorgraph-maxent version.*0.0.1"):
                samplers.ShardedChains(cg, 64, seed=0, client=client)
    finally:
        cluster.close()


def _pretend_old_version():
    from factorgraph import _version

    _version.__version__ = "0.0.1"


def test_a_model_too_small_to_shard_is_warned_about(client):
    g = fg.FactorGraph()
    g.add_variables(2, values=[-1, 1])
    g.add_features(fg.features.Product([(0, 1)]))
    sampler = samplers.ShardedChains(g.compile(), 128, seed=0, client=client, n_shards=2)
    with pytest.warns(fg.ShardingOverheadWarning, match="too small to shard"):
        for _ in range(12):
            sampler.run(np.array([0.2]), 1)
    assert sampler.overhead > 0.2


def test_bad_settings_are_refused_with_the_fix(model, client, monkeypatch):
    cg, _, _ = model
    with pytest.raises(fg.ModelSpecError, match="at most 2 shards"):
        samplers.ShardedChains(cg, 100, seed=0, client=client, n_shards=3, block_size=64)
    with pytest.raises(fg.ModelSpecError, match="recovery"):
        samplers.ShardedChains(cg, 100, client=client, recovery="retry")
    with pytest.raises(fg.PluginError, match="cannot shard the sampler 'loopback'"):
        samplers.ShardedChains(cg, 100, client=client, inner="loopback")
    with pytest.raises(fg.ModelSpecError, match="cannot wrap itself"):
        samplers.ShardedChains(cg, 100, client=client, inner="sharded")
    with pytest.raises(fg.ModelSpecError, match="needs a Dask client"):
        samplers.ShardedChains(cg, 100)
    with pytest.raises(fg.ModelSpecError, match="ready sampler"):
        fg.Trainer(cg, [objectives.L2(1.0)], sampler=samplers.create("gibbs", cg, 8), cluster=client)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(fg.MissingDependencyError, match=r"factorgraph-maxent\[distributed\]"):
        samplers.ShardedChains(cg, 100, client=client)
