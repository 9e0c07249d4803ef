"""Transformers checkpoint directories: the config parsed once, blocks up to the tap only."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from support.tiny_models import make_model, save_model

from ner_jax.model import hf_checkpoint
from ner_jax.model.hf_checkpoint import load_params
from ner_jax.model.params import CheckpointMismatch
from ner_jax.model.taps import resolve_tap


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


def test_each_config_is_parsed_once_until_it_changes(tmp_path, monkeypatch):
    save_model(make_model("qwen2"), tmp_path)
    parsed = []
    config_from_hf = hf_checkpoint.config_from_hf

    def counting(values, source):
        parsed.append(source)
        return config_from_hf(values, source)

    monkeypatch.setattr(hf_checkpoint, "config_from_hf", counting)
    taps = [resolve_tap(str(tmp_path), 1) for _ in range(3)]
    load_params(tmp_path, num_blocks=2)  # loading asks for the same config
    assert len(parsed) == 1 and taps[0] == taps[1] == taps[2]
    # A rewritten config.json is read again.
    (tmp_path / "config.json").write_text((tmp_path / "config.json").read_text() + "\n")
    assert resolve_tap(str(tmp_path), 1) == taps[0] and len(parsed) == 2


def test_bfloat16_checkpoints_load_as_transformers_saved_them(tmp_path):
    # Meta's Llama 3.1 safetensors are bf16, which safetensors' numpy reader cannot return.
    model = make_model("llama")
    save_model(model.to(torch.bfloat16), tmp_path)
    _, params = load_params(tmp_path, num_blocks=1, dtype=jnp.bfloat16)
    expected = model.model.layers[0].self_attn.v_proj.weight.detach().float().numpy().T
    got = np.asarray(params["layers_0"]["self_attn"]["v_proj"]["kernel"], np.float32)
    np.testing.assert_array_equal(got, expected)
