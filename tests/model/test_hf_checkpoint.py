"""Transformers checkpoint directories: blocks up to the tap only; bad input fails clearly."""

from __future__ import annotations

import json

import pytest
from support.tiny_models import make_model, save_model

from ner_jax.model.hf_checkpoint import load_params
from ner_jax.model.params import CheckpointMismatch


def test_only_blocks_up_to_the_tap_are_loaded(tmp_path):
    save_model(make_model("qwen2"), tmp_path)
    _, params = load_params(tmp_path, num_blocks=2)
    assert sorted(params) == ["embed_tokens", "layers_0", "layers_1"]


def test_missing_files_and_bad_configs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_params(tmp_path, num_blocks=1)
    save_model(make_model("llama"), tmp_path)
    with pytest.raises(ValueError, match="tap block 4 is out of range.*4 blocks"):
        load_params(tmp_path, num_blocks=5)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(ValueError, match="unsupported model_type 'bert'"):
        load_params(tmp_path, num_blocks=1)
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(CheckpointMismatch, match="layers.3"):
        load_params(tmp_path, num_blocks=1)
    (tmp_path / "config.json").write_text(json.dumps({**config, "intermediate_size": 70}))
    with pytest.raises(CheckpointMismatch, match="has shape"):
        load_params(tmp_path, num_blocks=1)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_params(tmp_path, num_blocks=1)
