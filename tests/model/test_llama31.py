"""Llama 3.1 as the paper ran it: GGUF `rope_freqs`, reads that stop at the tap, the 8B budget."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from support.gguf_files import write_gguf
from support.reference import RTOL, reference_run, relative_error
from support.tiny_models import make_model, save_model

from ner_jax.model import hf_checkpoint
from ner_jax.model.config import LLAMA31_8B
from ner_jax.model.decoder import Decoder
from ner_jax.model.gguf_checkpoint import convert
from ner_jax.model.hf_checkpoint import load_params

TAP = 2  # of 4 blocks: block 3 must never be read


@pytest.fixture(scope="module")
def llama31(tmp_path_factory):
    """(transformers model with llama3 rope scaling, its GGUF converted to our cache layout)."""
    root = tmp_path_factory.mktemp("llama31")
    model = make_model("llama")  # rope_type llama3 (tiny_models)
    write_gguf(model, root / "llama31.gguf")
    (root / "converted").mkdir()
    convert(root / "llama31.gguf", root / "converted")
    return model, root / "converted"


def test_gguf_rope_freqs_match_transformers_llama3_scaling(llama31):
    model, converted = llama31
    config, params = load_params(converted, num_blocks=TAP + 1)
    assert config.rope_full.kind == "freq_factors" and len(config.rope_full.freq_factors) == 6
    rng = np.random.default_rng(3)
    exact = model.double()
    decoder = Decoder(config, num_blocks=TAP + 1, collect=("v", "attn"))
    # The lengths of the other parity tests: the scaling changes every frequency at any length.
    for ids in (rng.integers(0, 97, n).tolist() for n in (17, 9)):
        tokens = jnp.asarray([ids], jnp.int32)
        out, parts = decoder.apply({"params": params}, tokens, jnp.ones_like(tokens))
        ref = reference_run(exact, ids, TAP)
        for name, ours in (("v", parts["v"][0]), ("attn", parts["attn"][0]), ("out", out[0])):
            assert relative_error(np.asarray(ours), ref[name]) <= RTOL, name


def test_gguf_factors_compute_the_llama3_frequencies_of_the_hf_config(llama31, tmp_path):
    model, converted = llama31
    save_model(model, tmp_path)
    from_dir, from_gguf = (hf_checkpoint.read_config(d).rope_full for d in (tmp_path, converted))
    assert from_dir.kind == "llama3"
    np.testing.assert_allclose(
        from_gguf.inverse_frequencies(12), from_dir.inverse_frequencies(12), rtol=1e-7, atol=0
    )


def test_blocks_after_the_tap_are_never_read(llama31, monkeypatch):
    _, converted = llama31
    opened, read = [], []
    real_open = hf_checkpoint.safe_open

    class Recording:
        def __init__(self, path, framework):
            opened.append(path.name)
            self.file = real_open(path, framework=framework)

        def get_tensor(self, name):
            read.append(name)
            return self.file.get_tensor(name)

        def __getattr__(self, name):
            return getattr(self.file, name)

    monkeypatch.setattr(hf_checkpoint, "safe_open", Recording)
    load_params(converted, num_blocks=TAP + 1)
    assert read and not [n for n in read if n.startswith(f"model.layers.{TAP + 1}.")]
    assert "lm_head.weight" not in read and "model.norm.weight" not in read
    # One shard per block: the shards of later blocks are not even opened.
    later = hf_checkpoint.tensor_files(converted)[f"model.layers.{TAP + 1}.mlp.up_proj.weight"]
    assert later.name not in opened


def test_llama31_8b_up_to_block_17_in_bfloat16_is_about_9_gb():
    decoder = Decoder(LLAMA31_8B, num_blocks=18, collect=("v",), dtype=jnp.bfloat16)
    tokens = jax.ShapeDtypeStruct((1, 8), jnp.int32)
    shapes = jax.eval_shape(decoder.init, jax.random.key(0), tokens, tokens)
    count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(shapes))
    gigabytes = 2 * count / 1e9
    print(f"Llama-3.1-8B blocks 0..17: {count / 1e9:.3f}B parameters, {gigabytes:.2f} GB bf16")
    assert 8.5 < gigabytes < 9.5


def test_bfloat16_checkpoints_load_as_transformers_saved_them(tmp_path):
    # Meta's Llama 3.1 safetensors are bf16, which safetensors' numpy reader cannot return.
    model = make_model("llama")
    save_model(model.to(torch.bfloat16), tmp_path)
    _, params = load_params(tmp_path, num_blocks=1, dtype=jnp.bfloat16)
    expected = model.model.layers[0].self_attn.v_proj.weight.detach().float().numpy().T
    got = np.asarray(params["layers_0"]["self_attn"]["v_proj"]["kernel"], np.float32)
    np.testing.assert_array_equal(got, expected)
