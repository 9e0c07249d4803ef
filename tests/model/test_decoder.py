"""Parity of the Flax decoder with transformers (PyTorch, fp32) on tiny random models."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from support.reference import RTOL, reference_run, relative_error
from support.tiny_models import FAMILIES, make_model, save_model

from ner_jax.features.batching import plan_batches
from ner_jax.model.decoder import Decoder
from ner_jax.model.hf_checkpoint import load_params

TAP = 3  # the last of 4 blocks: Gemma's global layer (3) follows three sliding ones


def padded_batch(sentences: list[list[int]], left: list[bool]):
    """Token ids and segment ids [B,T]; sentence i padded on the left if left[i]."""
    width = max(map(len, sentences)) + 3  # at least 3 padding tokens in every row
    tokens = np.full((len(sentences), width), 5, np.int32)  # pad id 5: a real token, must be masked
    segments = np.zeros_like(tokens)
    starts = []
    for row, (ids, is_left) in enumerate(zip(sentences, left, strict=True)):
        start = width - len(ids) if is_left else 0
        tokens[row, start : start + len(ids)] = ids
        segments[row, start : start + len(ids)] = 1
        starts.append(start)
    return tokens, segments, starts


@pytest.mark.parametrize("family", FAMILIES)
def test_matches_transformers_with_padding_on_both_sides(family, tmp_path):
    model = make_model(family)
    save_model(model, tmp_path)
    config, params = load_params(tmp_path, num_blocks=TAP + 1)
    rng = np.random.default_rng(1)
    # Longer than the sliding window (4-5 tokens) so the window is exercised.
    sentences = [rng.integers(0, 97, n).tolist() for n in (11, 3, 17, 8)]
    tokens, segments, starts = padded_batch(sentences, left=[True, False, True, False])
    decoder = Decoder(config, num_blocks=TAP + 1, collect=("v", "attn"))
    out, parts = decoder.apply({"params": params}, jnp.asarray(tokens), jnp.asarray(segments))
    # The reference runs in float64: on some x86 CPUs transformers' own fp32 run of qwen2 is
    # 1.1e-5 from float64 in attn (ours 5.6e-6), so two fp32 results can differ by 1.2e-5.
    exact = model.double()
    for row, ids in enumerate(sentences):
        ref = reference_run(exact, ids, TAP)
        span = slice(starts[row], starts[row] + len(ids))
        assert relative_error(np.asarray(parts["v"][row, span]), ref["v"]) <= RTOL
        assert relative_error(np.asarray(parts["attn"][row, span]), ref["attn"]) <= RTOL
        assert relative_error(np.asarray(out[row, span]), ref["out"]) <= RTOL


@pytest.mark.parametrize("family", FAMILIES)
def test_packed_rows_match_transformers_text_by_text(family, tmp_path):
    """Texts packed into rows by plan_batches (segments 1, 2, ...) read as each one alone."""
    model = make_model(family, seed=2)
    save_model(model, tmp_path)
    config, params = load_params(tmp_path, num_blocks=TAP + 1)
    rng = np.random.default_rng(4)
    sentences = [rng.integers(0, 97, n).astype(np.int32) for n in (11, 3, 17, 8, 5, 40, 2)]
    cols = [np.arange(len(s), dtype=np.int32) for s in sentences]
    rows = np.cumsum([0, *map(len, sentences)])
    outputs = [np.arange(rows[d], rows[d + 1]) for d in range(len(sentences))]
    batches = list(plan_batches(sentences, cols, outputs, 5, 64, 1))
    assert max(int(b.segments.max()) for b in batches) > 1  # texts were packed together
    decoder = Decoder(config, num_blocks=TAP + 1, collect=("v", "attn"))
    found = {name: np.zeros((rows[-1], config.component_width(name))) for name in ("v", "attn")}
    for b in batches:
        _, parts = decoder.apply({"params": params}, jnp.asarray(b.tokens), jnp.asarray(b.segments))
        filled = b.mentions >= 0
        for name in found:
            picked = np.take_along_axis(np.asarray(parts[name]), b.cols[..., None], axis=1)
            found[name][b.mentions[filled]] = picked[filled]
    # The reference runs in float64: larger batches take other XLA CPU matmul kernels, and two
    # fp32 results can then differ by 1.5e-5 (qwen2 attn) while ours stays within 7e-6 of the
    # float64 result, closer than transformers' own fp32 run (1e-5).
    exact = model.double()
    for d, ids in enumerate(sentences):
        ref = reference_run(exact, ids.tolist(), TAP)
        for name in found:
            assert relative_error(found[name][rows[d] : rows[d + 1]], ref[name]) <= RTOL


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_every_block_and_sharded_checkpoint(family, tmp_path):
    """All blocks collected at once equal per-block references; sharded dirs load the same."""
    model = make_model(family, seed=3)
    save_model(model, tmp_path / "single")
    save_model(model, tmp_path / "sharded", shard=True)
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 1
    config, params = load_params(tmp_path / "single", num_blocks=4)
    _, sharded = load_params(tmp_path / "sharded", num_blocks=4)
    for a, b in zip(_leaves(params), _leaves(sharded), strict=True):
        np.testing.assert_array_equal(a, b)
    ids = list(range(3, 40, 2))
    decoder = Decoder(config, num_blocks=4, collect=("v", "resid_out"), collect_all_blocks=True)
    tokens = jnp.asarray([ids])
    _, parts = decoder.apply({"params": params}, tokens, jnp.ones_like(tokens))
    assert parts["v"].shape == (4, 1, len(ids), config.value_width)
    for block in range(4):
        ref = reference_run(model, ids, block)
        assert relative_error(np.asarray(parts["v"][block, 0]), ref["v"]) <= RTOL
        assert relative_error(np.asarray(parts["resid_out"][block, 0]), ref["out"]) <= RTOL


def _leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_capture_intermediates_sees_the_same_value_vectors(tmp_path):
    save_model(make_model("gemma3"), tmp_path)
    config, params = load_params(tmp_path, num_blocks=2)
    tokens = jnp.asarray([[3, 9, 27, 81, 50, 11]])
    (_, parts), state = Decoder(config, num_blocks=2).apply(
        {"params": params}, tokens, jnp.ones_like(tokens), capture_intermediates=True
    )
    captured = state["intermediates"]["layers_1"]["self_attn"]["v_proj"]["__call__"][0]
    np.testing.assert_array_equal(np.asarray(captured), np.asarray(parts["v"]))


def test_bfloat16_stays_close_to_float32(tmp_path):
    save_model(make_model("qwen2"), tmp_path)
    tokens = jnp.asarray([list(range(1, 30))])
    outputs = {}
    for dtype in (jnp.float32, jnp.bfloat16):
        config, params = load_params(tmp_path, num_blocks=3, dtype=dtype)
        assert params["layers_0"]["mlp"]["up_proj"]["kernel"].dtype == dtype
        _, parts = Decoder(config, 3, dtype=dtype).apply(
            {"params": params}, tokens, jnp.ones_like(tokens)
        )
        assert parts["v"].dtype == dtype
        outputs[dtype] = np.asarray(parts["v"], np.float32)
    # bf16 keeps 8 mantissa bits; three blocks of rounding stay within a few percent.
    assert relative_error(outputs[jnp.bfloat16], outputs[jnp.float32]) < 0.05


def test_bfloat16_dense_asks_xla_for_a_float32_product():
    """In bf16 the dot's result is fp32, cast back after: XLA's CPU runs that dot on AMX where
    there is one, and a bf16-result dot on a slower path (the values agree either way)."""
    import flax.linen as nn
    import jax

    from ner_jax.model.decoder import dense

    class One(nn.Module):
        @nn.compact
        def __call__(self, x):
            return dense(8, "proj", x.dtype)(x)

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 64)), jnp.bfloat16)
    params = {"proj": {"kernel": jnp.asarray(rng.normal(size=(64, 8)), jnp.bfloat16)}}
    apply = jax.jit(lambda p, x: One().apply({"params": p}, x))
    text = apply.lower(params, x).as_text()
    assert "stablehlo.dot_general" in text
    (dot,) = [line for line in text.splitlines() if "stablehlo.dot_general" in line]
    assert dot.rstrip().endswith("-> tensor<4x8xf32>"), dot
    assert apply(params, x).dtype == jnp.bfloat16
    exact = np.asarray(x, np.float64) @ np.asarray(params["proj"]["kernel"], np.float64)
    np.testing.assert_allclose(np.asarray(apply(params, x), np.float64), exact, rtol=2**-7)
