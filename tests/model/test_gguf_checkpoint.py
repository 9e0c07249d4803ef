"""GGUF files load as the transformers directory does (Llama 3.1 too); bad files fail clearly."""

from __future__ import annotations

import gguf
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.gguf_files import write_gguf
from support.reference import RTOL, reference_run, relative_error
from support.tiny_models import make_model, save_model

from ner_jax.model import hf_checkpoint
from ner_jax.model.decoder import Decoder
from ner_jax.model.gguf_checkpoint import convert
from ner_jax.model.hf_checkpoint import load_params

# GGUF carries Llama 3.1's rope scaling as per-frequency factors (tests/model/test_llama31.py)
# and fixes Gemma 3's layer pattern and query scale, so this round trip, which compares configs,
# uses models that GGUF describes exactly.
GGUF_MODELS = {
    "llama": dict(rope_parameters=dict(rope_type="default", rope_theta=10_000.0)),
    "qwen2": {},
    "gemma3": dict(num_hidden_layers=6, layer_types=None, query_pre_attn_scalar=12),
}

TAP = 2  # of the tiny Llama 3.1's 4 blocks: block 3 must never be read


def leaves(params):
    return jax.tree_util.tree_leaves_with_path(params)


def assert_same_params(a, b, atol=0.0):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for (path, x), (_, y) in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_allclose(
            np.asarray(x), np.asarray(y), rtol=0, atol=atol, err_msg=str(path)
        )


@pytest.mark.parametrize("family", sorted(GGUF_MODELS))
def test_gguf_and_sharded_dir_load_the_same_parameters(family, tmp_path):
    model = make_model(family, **GGUF_MODELS[family])
    save_model(model, tmp_path / "sharded", shard=True)
    write_gguf(model, tmp_path / "model.gguf")
    (tmp_path / "converted").mkdir()
    convert(tmp_path / "model.gguf", tmp_path / "converted")
    layers = model.config.num_hidden_layers
    config, from_dir = load_params(tmp_path / "sharded", num_blocks=layers)
    gguf_config, from_gguf = load_params(tmp_path / "converted", num_blocks=layers)
    assert gguf_config == config
    # Gemma's norms pass through 1 + w in the file: one float32 rounding each way.
    assert_same_params(from_dir, from_gguf, atol=2e-7 if family == "gemma3" else 0.0)


def test_quantised_gguf_dequantises_close_to_the_original(tmp_path):
    # Q8_0 blocks hold 32 weights: every input width must be a multiple of 32.
    sizes = dict(hidden_size=64, intermediate_size=96, num_attention_heads=4, head_dim=16)
    model = make_model("llama", **GGUF_MODELS["llama"], **sizes)
    save_model(model, tmp_path / "hf")
    write_gguf(model, tmp_path / "q8.gguf", quant=gguf.GGMLQuantizationType.Q8_0)
    (tmp_path / "q8").mkdir()
    convert(tmp_path / "q8.gguf", tmp_path / "q8")
    _, exact = load_params(tmp_path / "hf", num_blocks=4)
    _, q8 = load_params(tmp_path / "q8", num_blocks=4)
    # Q8_0 keeps 8 bits per weight with a scale per 32: error under 1% of the largest weight.
    for (path, x), (_, y) in zip(leaves(exact), leaves(q8), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert np.max(np.abs(x - y)) <= 0.01 * np.max(np.abs(x)), path
        if x.ndim == 2:
            assert not np.array_equal(x, y), path  # quantisation did happen


def test_bad_gguf_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.gguf"):
        convert(tmp_path / "nothing.gguf", tmp_path)
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf at all")
    with pytest.raises(ValueError, match="junk.gguf: not a readable GGUF"):
        convert(tmp_path / "junk.gguf", tmp_path)
    writer = gguf.GGUFWriter(tmp_path / "bert.gguf", "bert")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    _finish(writer)
    with pytest.raises(ValueError, match="unsupported GGUF architecture 'bert'"):
        convert(tmp_path / "bert.gguf", tmp_path)


def test_unsupported_tensor_type_is_named(tmp_path):
    model = make_model("qwen2")
    write_gguf(model, tmp_path / "ok.gguf")
    reader = gguf.GGUFReader(tmp_path / "ok.gguf")
    writer = gguf.GGUFWriter(tmp_path / "q8_1.gguf", "qwen2")
    for key, field in reader.fields.items():
        if not key.startswith("GGUF.") and key != "general.architecture":
            writer.add_key_value(key, field.contents(), field.types[0])
    q8_1 = gguf.GGMLQuantizationType.Q8_1  # a llama.cpp type gguf-py cannot dequantise
    for tensor in reader.tensors:
        if tensor.name == "blk.1.attn_v.weight":
            rows, cols = (int(d) for d in reversed(tensor.shape))
            block, size = gguf.GGML_QUANT_SIZES[q8_1]
            raw = np.zeros((rows, cols // block * size), np.uint8)
            writer.add_tensor(tensor.name, raw, raw_shape=raw.shape, raw_dtype=q8_1)
        else:
            writer.add_tensor(tensor.name, np.asarray(tensor.data))
    _finish(writer)
    with pytest.raises(ValueError, match="blk.1.attn_v.weight has unsupported type Q8_1"):
        convert(tmp_path / "q8_1.gguf", tmp_path)


def _finish(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


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
