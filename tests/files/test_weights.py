"""Small weight files: layers and record round-trip; what is missing is named."""

from __future__ import annotations

import numpy as np
import pytest

from ner_jax.files import weights

PARAMS = {"fc1": {"kernel": np.ones((2, 3)), "bias": np.zeros(3)}, "fc2": {"kernel": np.eye(3)}}


def test_layers_and_record_round_trip(tmp_path):
    path = weights.save_params(tmp_path / "w.safetensors", PARAMS, {"model": "m", "hidden": 3})
    params, record = weights.load_params(path, "head", {"model"}, {"fc1", "fc2"})
    assert record == {"model": "m", "hidden": 3}
    assert params["fc1"]["kernel"].dtype == np.float32
    np.testing.assert_array_equal(params["fc2"]["kernel"], np.eye(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.json", "w.safetensors"]


def test_missing_files_fields_and_layers_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="head file not found: .*nope.safetensors"):
        weights.load_params(tmp_path / "nope.safetensors", "head", set(), set())
    path = weights.save_params(tmp_path / "w.safetensors", PARAMS, {"model": "m"})
    with pytest.raises(ValueError, match=r"w.json: record lacks \['hidden'\]"):
        weights.load_params(path, "head", {"model", "hidden"}, {"fc1", "fc2"})
    with pytest.raises(ValueError, match=r"expected layers \['fc1', 'fc2', 'fc3'\]"):
        weights.load_params(path, "head", {"model"}, {"fc1", "fc2", "fc3"})
    params, _ = weights.load_params(path, "head", {"model"}, {"fc1"}, optional={"fc2"})
    assert sorted(params) == ["fc1", "fc2"]


def test_shipped_weights_are_found_by_kind_and_model():
    assert weights.shipped_weights("heads", "gemma3-270m").is_file()
    assert weights.shipped_weights("detectors", "gemma3-270m").is_file()
    assert weights.shipped_weights("heads", "no-such-model") is None
