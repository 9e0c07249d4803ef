"""Parameter shapes of real model sizes, checked without memory (jax.eval_shape)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ner_jax.model.config import LLAMA31_8B, RopeConfig
from ner_jax.model.decoder import Decoder
from ner_jax.model.params import abstract_params


def test_llama31_8b_shapes_without_memory():
    decoder = Decoder(LLAMA31_8B, num_blocks=18)
    params = abstract_params(LLAMA31_8B, num_blocks=18)
    tokens = jax.ShapeDtypeStruct((2, 7), np.int32)
    _, parts = jax.eval_shape(decoder.apply, {"params": params}, tokens, tokens)
    assert parts["v"].shape == (2, 7, 1024)
    assert params["layers_17"]["self_attn"]["v_proj"]["kernel"].shape == (4096, 1024)
    assert "layers_18" not in params


def test_llama31_8b_up_to_block_17_in_bfloat16_is_about_9_gb():
    decoder = Decoder(LLAMA31_8B, num_blocks=18, collect=("v",), dtype=jnp.bfloat16)
    tokens = jax.ShapeDtypeStruct((1, 8), jnp.int32)
    shapes = jax.eval_shape(decoder.init, jax.random.key(0), tokens, tokens)
    count = sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(shapes))
    gigabytes = 2 * count / 1e9
    print(f"Llama-3.1-8B blocks 0..17: {count / 1e9:.3f}B parameters, {gigabytes:.2f} GB bf16")
    assert 8.5 < gigabytes < 9.5


def test_config_dict_names_rope_factors_only_where_a_model_has_them():
    """Feature stores are keyed by this dict: a model without factors keeps its earlier key."""
    plain = dataclasses.replace(LLAMA31_8B, rope_full=RopeConfig(), rope_sliding=RopeConfig())
    assert all("freq_factors" not in v for v in plain.to_dict().values() if isinstance(v, dict))
    factored = dataclasses.replace(
        plain, rope_full=RopeConfig(kind="freq_factors", freq_factors=(1.0, 2.0))
    )
    assert factored.to_dict()["rope_full"]["freq_factors"] == (1.0, 2.0)
    assert "freq_factors" not in factored.to_dict()["rope_sliding"]
