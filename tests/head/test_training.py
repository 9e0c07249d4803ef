"""Head training on toy types: the sharded step, select_score, sample_batch, separation."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from support.toy_mentions import toy_mentions

from ner_jax.head.mentions import retrieval_score
from ner_jax.head.training import OptimConfig, init_state, make_train_step, sample_batch

SHARDED = textwrap.dedent(
    """
    import sys, pickle, jax, numpy as np
    from jax.sharding import Mesh
    from ner_jax.head.projection import ProjectionHead
    from ner_jax.head.training import OptimConfig, init_state, make_train_step, sample_batch
    from support.toy_mentions import toy_mentions
    assert len(jax.devices()) == 4
    out = {}
    for loss in ("info_nce", "triplet"):
        optim = OptimConfig(loss=loss, hidden=20, out=8, types_per_batch=4, mentions_per_type=6,
                            random_negatives=4, hard_negatives=3, hard_pool=8, warmup_steps=1)
        module = ProjectionHead(optim.hidden, optim.out, optim.dropout)
        for devices in (1, 4):
            mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
            step, tx = make_train_step(module, optim, mesh)
            state = init_state(module, tx, 12, 0)
            for n in range(3):
                state, loss_value = step(state, sample_batch(toy_mentions(), optim, n))
            out[loss, devices] = jax.device_get(state["params"])
    pickle.dump(out, open(sys.argv[1], "wb"))
    """
)


def test_sharded_step_on_four_devices_matches_one(tmp_path):
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path]),
    }
    result = subprocess.run(
        [sys.executable, "-c", SHARDED, str(tmp_path / "params.pkl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "params.pkl", allow_pickle=True)
    for loss in ("info_nce", "triplet"):
        one, four = out[loss, 1], out[loss, 4]
        for layer in ("fc1", "fc2"):
            for name in ("kernel", "bias"):
                np.testing.assert_allclose(
                    four[layer][name], one[layer][name], rtol=1e-5, atol=1e-6
                )


@pytest.mark.parametrize("loss", ["info_nce", "triplet"])
def test_training_separates_toy_types(loss):
    """A few hundred steps on well-separated toy types must beat the untrained head."""
    from ner_jax.head.projection import ProjectionHead
    from ner_jax.head.training import select_score

    mentions = toy_mentions()
    optim = OptimConfig(
        loss=loss,
        hidden=32,
        out=16,
        types_per_batch=4,
        mentions_per_type=6,
        steps=150,
        random_negatives=4,
        hard_negatives=3,
        hard_pool=8,
        learning_rate=3e-3,
        warmup_steps=10,
    )
    module = ProjectionHead(optim.hidden, optim.out, optim.dropout)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    step, tx = make_train_step(module, optim, mesh)
    state = init_state(module, tx, 12, 0)
    before = select_score(module, state["params"], mentions)
    losses = []
    for n in range(optim.steps):
        state, value = step(state, sample_batch(mentions, optim, n))
        losses.append(float(value))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    assert select_score(module, state["params"], mentions) >= max(before, 0.9)


def test_select_score_compiles_once_and_scores_as_a_fresh_jit(monkeypatch):
    """Repeated selections (new parameters each time, as in training, or an equal module)
    trace the head once per input shape, and score as a jit built for the call would."""
    from ner_jax.head import projection, training
    from ner_jax.head.projection import ProjectionHead

    normalise, traces = projection.l2_normalise, []

    def counted(x):  # runs only while jax traces, never when a compiled program runs
        traces.append(x.shape)
        return normalise(x)

    monkeypatch.setattr(projection, "l2_normalise", counted)
    module = ProjectionHead(13, 7, 0.1)  # a size no other test uses: nothing compiled for it yet
    mentions = toy_mentions()
    params = module.init(jax.random.key(6), mentions.inputs[:1])["params"]
    first = training.select_score(module, params, mentions)
    assert traces == [(60, 7), (6, 7)]  # the mentions, then the type names
    doubled = jax.tree.map(lambda a: 2 * a, params)
    second = training.select_score(ProjectionHead(13, 7, 0.1), doubled, mentions)
    assert training.select_score(module, params, mentions) == first
    assert len(traces) == 2
    fresh = jax.jit(lambda p, x: normalise(module.apply({"params": p}, x)))
    for p, score in ((params, first), (doubled, second)):
        vectors = [np.asarray(fresh(p, x)) for x in (mentions.inputs, mentions.anchors)]
        assert score == retrieval_score(*vectors, mentions)


def test_sample_batch_is_a_function_of_seed_and_step():
    mentions, optim = toy_mentions(), OptimConfig(types_per_batch=4, mentions_per_type=3)
    a, b = sample_batch(mentions, optim, 7), sample_batch(mentions, optim, 7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["mentions"], sample_batch(mentions, optim, 8)["mentions"])
    # Every mention in the batch is of the type its label names.
    for row, label in zip(a["mentions"], a["types"], strict=True):
        chosen = [t for t in range(6) if np.array_equal(mentions.anchors[t], a["anchors"][label])]
        assert mentions.types[np.flatnonzero((mentions.inputs == row).all(1))[0]] == chosen[0]


def test_sample_batch_draws_each_anchor_among_its_types_wordings():
    plain = toy_mentions()
    rng = np.random.default_rng(1)
    counts = np.array([1, 2, 3, 4, 2, 3], np.int32)
    table = rng.normal(size=(6, 4, 12)).astype(np.float32)
    table[:, 0] = plain.anchors  # the query words come first
    for t, n in enumerate(counts):
        table[t, n:] = table[t, 0]  # padding repeats the first wording
    worded = dataclasses.replace(plain, wordings=table, wording_counts=counts)
    for loss in ("info_nce", "triplet"):
        optim = OptimConfig(loss=loss, types_per_batch=4, mentions_per_type=3)
        seen = {t: set() for t in range(6)}
        for step in range(60):
            a, b = sample_batch(worded, optim, step), sample_batch(plain, optim, step)
            # The mentions are those a single-wording run draws: only the anchors change.
            assert all(np.array_equal(a[k], b[k]) for k in a if k != "anchors")
            for anchor, first in zip(a["anchors"], b["anchors"], strict=True):
                t = next(t for t in range(6) if np.array_equal(plain.anchors[t], first))
                hits = [w for w in range(4) if np.array_equal(table[t, w], anchor)]
                assert hits and min(hits) < counts[t]
                seen[t].add(min(hits))
        assert all(seen[t] == set(range(counts[t])) for t in range(6)), seen


def test_retrieval_score_counts_only_the_queried_types():
    mentions = toy_mentions(types=4, per_type=3)
    vectors = np.eye(4, dtype=np.float32)[mentions.types]  # perfect for every type ...
    queries = np.eye(4, dtype=np.float32)
    queries[3] = queries[0]  # ... except type 3, whose query finds type 0's documents
    assert retrieval_score(vectors, queries, mentions) == 0.75
    queried = dataclasses.replace(mentions, queried=np.array([False, True, True, False]))
    assert retrieval_score(vectors, queries, queried) == 1.0
    queried = dataclasses.replace(mentions, queried=np.array([False, False, False, True]))
    assert retrieval_score(vectors, queries, queried) == 0.0
