"""Head files: the shipped head true to its record, round trips, raw_mix, reduced projections."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import jax
import numpy as np
import pytest
from support.reference_head import unit
from support.shared_data import require_data

from ner_jax.features import InputSpec
from ner_jax.head import Head, ProjectionHead
from ner_jax.head.file import load_head, save_head, shipped_head
from ner_jax.model.registry import DEFAULT_MODEL


def test_a_head_ships_for_the_default_model():
    path = shipped_head(DEFAULT_MODEL)
    assert path is not None, f"no head in ner_jax/assets/heads/ for {DEFAULT_MODEL}"
    head = load_head(path)
    assert head.model == DEFAULT_MODEL and head.record["variant"] == "shipped"
    x = np.random.default_rng(0).normal(size=(3, head.in_width)).astype(np.float32)
    out = head.project(x)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    train = head.record["data"]["train"]
    assert train["mentions"] == sum(train["types"].values())
    assert train["mentions"] == sum(f["mentions"] for f in train["files"].values())
    # Trained on every training file of both protocols and Few-NERD's training sample, never on
    # a selection file; chosen on types held out of training.
    files = set(train["files"])
    assert any("en-train90" in f for f in files) and any("en-train10" in f for f in files)
    assert sum("crossner" in f for f in files) == 10
    assert any("fewnerd_inter_train/train.txt" in f for f in files)
    assert not files & set(head.record["data"]["select"]["files"])
    assert head.record["data"]["selection"] == "every type"  # its recipe was chosen beforehand
    # 384 dims: reduced to 320, then a 64-d context part, both fitted on the head's own
    # training files (never a selection file), the part's weight chosen on held-out types.
    assert head.out_width == 384 and out.shape == (3, 384) and head.spec.context
    context = head.record["context"]
    assert head.record["dims"] == 320 and context["dims"] == 64 and head.context_weight == 0.2
    for fitted in (head.record["projection"]["files"], context["files"]):
        assert fitted and set(fitted) <= files
    assert context["selection"] == "experiments/sentence_signal.py"
    for projection, dims in ((head.projection, 320), (head.params["context"]["projection"], 64)):
        np.testing.assert_allclose(projection.T @ projection, np.eye(dims), atol=1e-5)


def test_shipped_record_matches_the_data_files():
    data = require_data("the record cannot be checked")
    record = load_head(shipped_head(DEFAULT_MODEL)).record
    for name, digest in {**record["data"]["sha256"], **record["projection"]["sha256"]}.items():
        relative = name.split("shared/data/", 1)[-1]
        path = data / relative
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path


def test_head_file_round_trips_and_names_bad_files(tmp_path):
    from ner_jax.head.projection import ProjectionHead

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
    expected = unit(module.apply({"params": params}, x))
    np.testing.assert_allclose(head.project(x), expected, rtol=1e-6, atol=1e-6)
    for reading in ({"middle": 1.0}, {"last": 0.0}, {}):
        save_head(path, params, record | {"query_reading": reading})
        with pytest.raises(ValueError, match=r"h\.safetensors: query_reading .* positive weights"):
            load_head(path)
    (tmp_path / "h.json").write_text(json.dumps({"model": "m"}))
    with pytest.raises(ValueError, match=r"h\.json: record lacks"):
        load_head(path)
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        load_head(tmp_path / "nothing.safetensors")


def test_raw_mix_adds_the_first_taps_cosine(tmp_path):
    """With raw_mix a, output cosines are a * (first tap cosine) + (1 - a) * (head cosine)."""
    from ner_jax.head.projection import ProjectionHead

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
        return unit(v) @ unit(v).T

    plain = np.asarray(module.apply({"params": params}, x))
    expected = 0.3 * cosines(x[:, :5]) + 0.7 * cosines(plain)
    np.testing.assert_allclose(out @ out.T, expected, rtol=1e-5, atol=1e-6)


def test_projection_keeps_cosines_of_low_rank_outputs_and_round_trips(tmp_path):
    """Outputs that span few directions keep their cosines exactly through a projection of
    that many dims; the reduced head saves, loads and strips back to the same head."""
    from ner_jax.head.file import add_projection
    from ner_jax.head.projection import ProjectionHead

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


def test_a_head_sums_its_readings_by_their_weights():
    module = ProjectionHead(10, 6, 0.1)
    params = module.init(jax.random.key(0), np.zeros((1, 8), np.float32))["params"]
    record = {"query_reading": {"head": 0.75, "last": 0.25}}
    head = Head("m", InputSpec(("v@1",)), module, params, record)
    readings = np.random.default_rng(0).normal(size=(2, 3, 8)).astype(np.float32)
    at_head, at_last = head.project(readings[0]), head.project(readings[1])
    summed = 0.75 * at_head + 0.25 * at_last
    expected = summed / np.linalg.norm(summed, axis=1, keepdims=True)
    np.testing.assert_allclose(head.query_vectors(readings), expected, rtol=1e-5, atol=1e-6)
    last_only = dataclasses.replace(head, record={})
    assert last_only.query_reading == {"last": 1.0}
    np.testing.assert_array_equal(last_only.query_vectors(readings[1:]), at_last)
    with pytest.raises(ValueError, match="2 readings for the 1 query positions"):
        last_only.query_vectors(readings)


def test_a_context_part_adds_its_weight_of_the_texts_cosine_and_round_trips(tmp_path):
    """add_context: a vector's cosine is (mention cosine + w x text cosine) / (1 + w), the text
    part centred on the training means and reduced; the record, file and strip agree."""
    from ner_jax.head.file import add_context, add_projection, without_context

    module = ProjectionHead(20, 8, 0.1)
    params = module.init(jax.random.key(7), np.zeros((1, 12), np.float32))["params"]
    record = {"model": "m", "taps": ["v@2"], "sentence_end": False, "hidden": 20}
    record |= {"out": 8, "dropout": 0.1, "raw_mix": 0.25, "raw_width": 12}
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 12)).astype(np.float32)
    head = add_projection(
        load_head(save_head(tmp_path / "h.safetensors", params, record)),
        load_head(tmp_path / "h.safetensors").project(x),
        6,
        {"files": ["toy"]},
    )
    means = (rng.normal(size=(300, 12)) + 5.0).astype(np.float32)  # a shared offset: centred
    fused = add_context(head, means, 0.2, 4, {"files": ["toy"]})
    assert fused.spec.context and fused.out_width == 6 + 4
    assert fused.record["context"] | {"kept_energy": 0} == {
        "files": ["toy"],
        "weight": 0.2,
        "dims": 4,
        "texts": 300,
        "kept_energy": 0,
    }
    text = rng.normal(size=(50, 12)).astype(np.float32) + 5.0
    out = fused.project(np.concatenate([x, text], axis=1))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    # By hand: the context part's centre and directions from the means.
    centre = means.mean(axis=0)
    _, _, directions = np.linalg.svd(means - centre, full_matrices=False)
    reduced = (text - centre) @ directions[:4].T
    text_cos = unit(reduced) @ unit(reduced).T
    mention = head.project(x)
    expected = (mention @ mention.T + 0.2 * text_cos) / 1.2
    np.testing.assert_allclose(out @ out.T, expected, rtol=1e-5, atol=1e-5)
    loaded = load_head(save_head(tmp_path / "c.safetensors", fused.params, fused.record))
    assert loaded.spec.context and loaded.context_weight == 0.2
    np.testing.assert_array_equal(loaded.project(np.concatenate([x, text], axis=1)), out)
    np.testing.assert_array_equal(without_context(loaded).project(x), head.project(x))
    again = add_context(loaded, means, 0.5, 4, {})  # replaces the part
    assert again.context_weight == 0.5 and again.out_width == 10
    with pytest.raises(ValueError, match=r"shape \(300, 5\); the head's taps are 12 wide"):
        add_context(head, means[:, :5], 0.2, 4, {})
    with pytest.raises(ValueError, match="context weight must be positive"):
        add_context(head, means, 0.0, 4, {})
    record = {**fused.record, "context": {"weight": 0}}
    broken = save_head(tmp_path / "b.safetensors", fused.params, record)
    with pytest.raises(ValueError, match="b.safetensors: a context part needs"):
        load_head(broken)
