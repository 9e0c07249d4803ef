"""Head training: the launcher's tiny run and its resume, the sharded step, head files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from tiny_models import tiny_checkpoint

from ner_jax.head_data import MentionSet, retrieval_score
from ner_jax.head_file import load_head, save_head
from ner_jax.training import OptimConfig, init_state, make_train_step, sample_batch

ROOT = Path(__file__).resolve().parents[1]
# Words of the tiny tokenizer (tests/tiny_models.WORDS), labelled in CrossNER's format.
TRAIN = """the\tO
castle\tB-location
in\tO
edinburgh\tB-location

curie\tB-person
visited\tO
paris\tB-location

python\tB-programlang
and\tO
rust\tB-programlang

insulin\tB-protein
and\tO
keratin\tB-protein
"""
DEV = """the\tO
palace\tB-location
in\tO
lisbon\tB-location

keratin\tB-protein
and\tO
insulin\tB-protein

curie\tB-person
and\tO
python\tB-programlang
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A data root shaped like ../shared/data (one CrossNER domain) and a tiny model."""
    root = tmp_path_factory.mktemp("data")
    (root / "crossner" / "ai").mkdir(parents=True)
    (root / "crossner" / "ai" / "train.txt").write_text(TRAIN)
    (root / "crossner" / "ai" / "dev.txt").write_text(DEV)
    (root / "queries").mkdir()
    words = {
        "location": "location",
        "person": "person",
        "programlang": "python",
        "protein": "insulin",
    }
    (root / "queries" / "crossner.json").write_text(json.dumps(words))
    return root, str(tiny_checkpoint(root / "model"))


def launch(data_root, model, workdir, *extra):
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "train_head.py"),
            "--config=tiny",
            f"--data={data_root}",
            f"--model={model}",
            f"--workdir={workdir}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )


def metrics(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_run_resumes_to_the_same_head_as_an_uninterrupted_run(data, tmp_path):
    root, model = data
    tiny = launch(root, model, tmp_path / "tiny")
    assert tiny.returncode == 0, tiny.stderr[-3000:]
    assert [m["step"] for m in metrics(tmp_path / "tiny")] == [1, 2]
    record = json.loads((tmp_path / "tiny" / "head.json").read_text())
    assert record["data"]["train"]["files"] == {
        f"{root}/crossner/ai/train.txt": {"documents": 4, "mentions": 8}
    }
    assert record["data"]["select"]["mentions"] == 6
    assert 0.0 <= record["metrics"]["select_r_precision"] <= 1.0
    stopped = launch(root, model, tmp_path / "resumed", "--set=steps=4", "--stop_after=2")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert not (tmp_path / "resumed" / "head.safetensors").exists()
    with (tmp_path / "resumed" / "metrics.jsonl").open("a") as f:  # written after the checkpoint
        f.write(json.dumps({"step": 3, "loss": 0.0}) + "\n")
    resumed = launch(root, model, tmp_path / "resumed", "--set=steps=4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [m["step"] for m in metrics(tmp_path / "resumed")] == [1, 2, 3, 4]
    straight = launch(root, model, tmp_path / "straight", "--set=steps=4")
    assert straight.returncode == 0, straight.stderr[-3000:]
    a, b = load_head(tmp_path / "resumed"), load_head(tmp_path / "straight")
    assert a.record["metrics"]["best_step"] == b.record["metrics"]["best_step"]
    for layer in ("fc1", "fc2"):
        for name in ("kernel", "bias"):
            np.testing.assert_array_equal(a.params[layer][name], b.params[layer][name])
    assert [m["loss"] for m in metrics(tmp_path / "resumed")] == [
        m["loss"] for m in metrics(tmp_path / "straight")
    ]


def test_launcher_rejects_an_unknown_override(data, tmp_path):
    root, model = data
    result = launch(root, model, tmp_path / "bad", "--set=stepz=3")
    assert result.returncode != 0 and "no field 'stepz'" in result.stderr


def toy_mentions(seed: int = 0, types: int = 6, per_type: int = 10, width: int = 12):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(types, width))
    labels = np.repeat(np.arange(types), per_type).astype(np.int32)
    return MentionSet(
        inputs=(centres[labels] + 0.3 * rng.normal(size=(len(labels), width))).astype(np.float32),
        types=labels,
        docs=np.arange(len(labels)),
        type_names=[f"t{i}" for i in range(types)],
        anchors=(centres + 0.3 * rng.normal(size=centres.shape)).astype(np.float32),
        files={},
    )


SHARDED = textwrap.dedent(
    """
    import sys, pickle, jax, numpy as np
    from jax.sharding import Mesh
    from ner_jax.head import ProjectionHead
    from ner_jax.training import OptimConfig, init_state, make_train_step, sample_batch
    from test_training import toy_mentions
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
        "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), *sys.path]),
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
    from ner_jax.head import ProjectionHead
    from ner_jax.training import select_score

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


def test_sample_batch_is_a_function_of_seed_and_step():
    mentions, optim = toy_mentions(), OptimConfig(types_per_batch=4, mentions_per_type=3)
    a, b = sample_batch(mentions, optim, 7), sample_batch(mentions, optim, 7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["mentions"], sample_batch(mentions, optim, 8)["mentions"])
    # Every mention in the batch is of the type its label names.
    for row, label in zip(a["mentions"], a["types"], strict=True):
        chosen = [t for t in range(6) if np.array_equal(mentions.anchors[t], a["anchors"][label])]
        assert mentions.types[np.flatnonzero((mentions.inputs == row).all(1))[0]] == chosen[0]


def test_head_file_round_trips_and_names_bad_files(tmp_path):
    from ner_jax.head import ProjectionHead

    module = ProjectionHead(20, 8, 0.1)
    params = module.init(jax.random.key(3), np.zeros((1, 12), np.float32))["params"]
    record = {
        "model": "m",
        "taps": ["v@2"],
        "sentence_end": True,
        "hidden": 20,
        "out": 8,
        "dropout": 0.1,
    }
    path = save_head(tmp_path / "h.safetensors", params, record)
    head = load_head(path)
    assert head.spec.taps == ("v@2",) and head.spec.sentence_end and head.record == record
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    expected = module.apply({"params": params}, x)
    expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(head.project(x), expected, rtol=1e-6, atol=1e-6)
    (tmp_path / "h.json").write_text(json.dumps({"model": "m"}))
    with pytest.raises(ValueError, match=r"h\.json: record lacks"):
        load_head(path)
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        load_head(tmp_path / "nothing.safetensors")


def test_retrieval_score_is_one_for_perfect_vectors():
    mentions = toy_mentions()
    onehot = np.eye(6, dtype=np.float32)
    assert retrieval_score(onehot[mentions.types], onehot, mentions) == 1.0
    assert retrieval_score(onehot[(mentions.types + 1) % 6], onehot, mentions) == 0.0


def test_raw_mix_adds_the_first_taps_cosine(tmp_path):
    """With raw_mix a, output cosines are a * (first tap cosine) + (1 - a) * (head cosine)."""
    from ner_jax.head import ProjectionHead

    module = ProjectionHead(20, 8, 0.1)
    params = module.init(jax.random.key(4), np.zeros((1, 12), np.float32))["params"]
    record = {"model": "m", "taps": ["v@2", "v@1"], "sentence_end": False, "hidden": 20}
    record |= {"out": 8, "dropout": 0.1, "raw_mix": 0.3, "raw_width": 5}
    head = load_head(save_head(tmp_path / "h.safetensors", params, record))
    x = np.random.default_rng(1).normal(size=(4, 12)).astype(np.float32)
    out = head.project(x)
    assert out.shape == (4, head.out_width) == (4, 13) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)

    def cosines(v):
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        return v @ v.T

    plain = np.asarray(module.apply({"params": params}, x))
    expected = 0.3 * cosines(x[:, :5]) + 0.7 * cosines(plain)
    np.testing.assert_allclose(out @ out.T, expected, rtol=1e-5, atol=1e-6)


def test_projection_keeps_cosines_of_low_rank_outputs_and_round_trips(tmp_path):
    """Outputs that span few directions keep their cosines exactly through a projection of
    that many dims; the reduced head saves, loads and strips back to the same head."""
    from ner_jax.head import ProjectionHead
    from ner_jax.head_file import add_projection

    module = ProjectionHead(20, 8, 0.1)
    params = module.init(jax.random.key(5), np.zeros((1, 12), np.float32))["params"]
    record = {"model": "m", "taps": ["v@2"], "sentence_end": False, "hidden": 20}
    record |= {"out": 8, "dropout": 0.1, "raw_mix": 0.5, "raw_width": 4}
    head = load_head(save_head(tmp_path / "h.safetensors", params, record))
    rng = np.random.default_rng(2)
    # Inputs on a 3-d subspace: the raw part (4 wide, rank 3) and the head part (8 wide) span
    # at most 11 of the 12 output dims.
    x = (rng.normal(size=(200, 3)) @ rng.normal(size=(3, 12))).astype(np.float32)
    full = head.project(x)
    reduced = add_projection(head, full, 11, {"files": ["toy"]})
    assert reduced.out_width == 11 and reduced.record["projection"]["mentions"] == 200
    assert reduced.record["projection"]["kept_energy"] == pytest.approx(1.0, abs=1e-6)
    out = reduced.project(x)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out @ out.T, full @ full.T, atol=1e-5)
    loaded = load_head(save_head(tmp_path / "r.safetensors", reduced.params, reduced.record))
    np.testing.assert_array_equal(loaded.project(x), out)
    assert loaded.unreduced().record == head.record
    np.testing.assert_array_equal(loaded.unreduced().project(x), full)
    # Too few directions loses energy, and the record says how much.
    lossy = add_projection(loaded, full, 2, {"files": ["toy"]})  # replaces the projection
    assert lossy.out_width == 2 and lossy.record["projection"]["kept_energy"] < 0.999
    with pytest.raises(ValueError, match="width 5, the head outputs 12"):
        add_projection(head, full[:, :5], 2, {})


def test_fit_projection_finds_the_top_directions_with_fixed_signs():
    from ner_jax.reduction import fit_projection, kept_energy

    rng = np.random.default_rng(3)
    scales = np.array([5.0, 3.0, 1.0, 0.1, 0.01])
    basis = np.linalg.qr(rng.normal(size=(5, 5)))[0]  # orthonormal columns
    z = np.linalg.qr(rng.normal(size=(2000, 5)))[0]  # orthonormal columns: X^T X is exact
    x = (z * scales) @ basis.T  # [N, 5] with X^T X = basis diag(scales^2) basis^T
    p = fit_projection(x, 2, sample=2000)
    np.testing.assert_allclose(np.abs(p.T @ basis[:, :2]), np.eye(2), atol=1e-5)
    np.testing.assert_array_equal(p, fit_projection(-x, 2, sample=2000))  # signs fixed
    assert kept_energy(x, p) == pytest.approx(34 / 35.0101, rel=1e-5)
    sampled = fit_projection(x, 2, sample=500)  # a sample finds the same plane
    np.testing.assert_allclose(np.linalg.svd(sampled.T @ p)[1], 1.0, atol=1e-2)
    with pytest.raises(ValueError, match="dims must be in 1..4"):
        fit_projection(x, 5, sample=10)
