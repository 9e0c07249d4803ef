"""The Flax (Linen) decoder, truncated after the tapped block.

Axis legend for the shape comments:
  B batch, T tokens (queries), S tokens (keys), D hidden size, F MLP width,
  H query heads, K key/value heads, G query heads per key/value head (H = K * G), E head dim.

Parameter names mirror transformers (`layers_3/self_attn/v_proj/kernel` is
`model.layers.3.self_attn.v_proj.weight`, transposed), so loaders are plain renames.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ner_jax.model.config import SLIDING, DecoderConfig

# What `Decoder(collect=...)` can return for each block, and what each one is.
COMPONENT_NAMES = {
    "q": "queries (q_proj output, before norm and rope)",
    "k": "keys (k_proj output, before norm and rope)",
    "v": "value vectors (v_proj output)",
    "attn": "attention outputs (value mixtures, before o_proj)",
    "mlp": "MLP outputs",
    "resid_in": "residual stream into the block",
    "resid_out": "residual stream out of the block",
}
COMPONENTS = tuple(COMPONENT_NAMES)


class RMSNorm(nn.Module):
    """RMSNorm in float32; Gemma scales by (offset + w) with offset 1."""

    eps: float
    offset: float = 0.0

    @nn.compact
    def __call__(self, x):
        weight = self.param("weight", nn.initializers.zeros_init(), (x.shape[-1],), jnp.float32)
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (normed * (self.offset + weight.astype(jnp.float32))).astype(x.dtype)


def dense(features: int, name: str, dtype, bias: bool = False):
    """nn.Dense that accumulates in float32 and returns `dtype` (the same op in float32).

    In bfloat16, XLA's CPU dot with a float32 result runs on AMX where the CPU has it, and with a
    bfloat16 result on a slower path (measured in docs/performance.md)."""
    layer = nn.Dense(features, use_bias=bias, dtype=dtype, dot_general=_dot_f32, name=name)
    return lambda x: layer(x).astype(dtype)


def _dot_f32(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    del preferred_element_type  # always float32
    return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision, jnp.float32)


def rotate(x, positions, inv_freq):
    """HF rotate-half RoPE. x [B,T,N,E], positions [B,T] int, inv_freq [E/2] float32."""
    angles = positions.astype(jnp.float32)[..., None] * inv_freq  # [B,T,E/2]
    angles = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]  # [B,T,1,E]
    # Like HF: angles in float32, cos/sin cast to the compute dtype before the products.
    cos, sin = jnp.cos(angles).astype(x.dtype), jnp.sin(angles).astype(x.dtype)
    first, second = jnp.split(x, 2, axis=-1)
    return x * cos + jnp.concatenate([-second, first], axis=-1) * sin


def attention_mask(segment_ids, positions, sliding_window: int | None):
    """[B,1,1,T,S] bool: same segment, not padding (segment 0), causal, inside the window."""
    same = segment_ids[:, :, None] == segment_ids[:, None, :]  # [B,T,S]
    distance = positions[:, :, None] - positions[:, None, :]  # [B,T,S] query minus key
    mask = same & (segment_ids[:, None, :] != 0) & (distance >= 0)
    if sliding_window is not None:
        mask &= distance < sliding_window
    return mask[:, None, None, :, :]


class Attention(nn.Module):
    config: DecoderConfig
    layer_type: str

    @nn.compact
    def __call__(self, x, segment_ids, positions):
        c = self.config
        K, E = c.num_key_value_heads, c.head_dim
        G = c.num_attention_heads // K
        q = dense(c.num_attention_heads * E, "q_proj", x.dtype, c.qkv_bias)(x)  # [B,T,H*E]
        k = dense(K * E, "k_proj", x.dtype, c.qkv_bias)(x)  # [B,T,K*E]
        v = dense(K * E, "v_proj", x.dtype, c.qkv_bias)(x)  # [B,T,K*E]: the tapped value vectors
        B, T = x.shape[:2]
        qh = q.reshape(B, T, K * G, E)  # [B,T,H,E]
        kh = k.reshape(B, T, K, E)  # [B,T,K,E]
        vh = v.reshape(B, T, K, E)  # [B,T,K,E]
        if c.qk_norm:
            qh = RMSNorm(c.rms_norm_eps, c.norm_weight_offset, name="q_norm")(qh)
            kh = RMSNorm(c.rms_norm_eps, c.norm_weight_offset, name="k_norm")(kh)
        rope = c.rope_sliding if self.layer_type == SLIDING else c.rope_full
        inv_freq = jnp.asarray(rope.inverse_frequencies(E))
        qh, kh = rotate(qh, positions, inv_freq), rotate(kh, positions, inv_freq)

        qg = qh.reshape(B, T, K, G, E)  # [B,T,K,G,E]: query head h = k * G + g, as HF repeats kv
        logits = jnp.einsum("btkge,bske->bkgts", qg, kh, preferred_element_type=jnp.float32)
        logits = logits * c.scale  # [B,K,G,T,S]
        window = c.sliding_window if self.layer_type == SLIDING else None
        mask = attention_mask(segment_ids, positions, window)  # [B,1,1,T,S]
        # A finite fill keeps fully masked (padding) rows finite instead of NaN.
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(logits, axis=-1).astype(vh.dtype)  # [B,K,G,T,S]
        out = jnp.einsum("bkgts,bske->btkge", weights, vh)  # [B,T,K,G,E]
        out = out.reshape(B, T, K * G * E)  # [B,T,H*E]: attention output before o_proj
        y = dense(c.hidden_size, "o_proj", x.dtype)(out)  # [B,T,D]
        return y, {"q": q, "k": k, "v": v, "attn": out}


class MLP(nn.Module):
    config: DecoderConfig

    @nn.compact
    def __call__(self, x):
        c = self.config
        gate = dense(c.intermediate_size, "gate_proj", x.dtype)(x)  # [B,T,F]
        up = dense(c.intermediate_size, "up_proj", x.dtype)(x)  # [B,T,F]
        if c.hidden_act == "silu":
            act = jax.nn.silu(gate)
        elif c.hidden_act == "gelu_pytorch_tanh":
            act = jax.nn.gelu(gate, approximate=True)
        else:
            raise ValueError(f"unsupported hidden_act {c.hidden_act!r}")
        return dense(c.hidden_size, "down_proj", x.dtype)(act * up)  # [B,T,D]


class Block(nn.Module):
    config: DecoderConfig
    layer_type: str

    @nn.compact
    def __call__(self, x, segment_ids, positions):
        c = self.config
        norm = lambda name: RMSNorm(c.rms_norm_eps, c.norm_weight_offset, name=name)  # noqa: E731
        attn_out, parts = Attention(c, self.layer_type, name="self_attn")(
            norm("input_layernorm")(x), segment_ids, positions
        )
        if c.sandwich_norms:  # Gemma: post-attention norm, then separate pre/post MLP norms
            h = x + norm("post_attention_layernorm")(attn_out)
            mlp_out = MLP(c, name="mlp")(norm("pre_feedforward_layernorm")(h))
            out = h + norm("post_feedforward_layernorm")(mlp_out)
        else:  # Llama/Qwen2: HF calls the pre-MLP norm `post_attention_layernorm`
            h = x + attn_out
            mlp_out = MLP(c, name="mlp")(norm("post_attention_layernorm")(h))
            out = h + mlp_out
        return out, {**parts, "mlp": mlp_out, "resid_in": x, "resid_out": out}


class Decoder(nn.Module):
    """Embeddings and blocks 0..num_blocks-1; no final norm, no LM head.

    Returns `(hidden [B,T,D] after the last block, intermediates)`, where intermediates maps each
    name in `collect` to the last block's value `[B,T,width]`, or with `collect_all_blocks` to all
    blocks stacked `[num_blocks,B,T,width]`.
    """

    config: DecoderConfig
    num_blocks: int
    collect: Sequence[str] = ("v",)
    collect_all_blocks: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, tokens, segment_ids, positions=None):
        """tokens, segment_ids [B,T] int (segment 0 is padding); positions [B,T] or None.

        Without positions, each segment counts from 0, so padding on either side (or several
        packed sentences in one row) leaves every sentence's result unchanged.
        """
        c = self.config
        c.check_tap_block(self.num_blocks - 1)
        unknown = set(self.collect) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components {sorted(unknown)}; choose from {COMPONENTS}")
        if positions is None:
            positions = segment_positions(segment_ids)
        embed = nn.Embed(c.vocab_size, c.hidden_size, dtype=self.dtype, name="embed_tokens")
        x = embed(tokens)  # [B,T,D]
        if c.scale_embeddings:  # Gemma: sqrt(D), rounded to the compute dtype as HF does
            x = x * jnp.asarray(np.sqrt(c.hidden_size), dtype=self.dtype)
        per_block = []
        for i in range(self.num_blocks):
            x, parts = Block(c, c.layer_type(i), name=f"layers_{i}")(x, segment_ids, positions)
            per_block.append({name: parts[name] for name in self.collect})
        if self.collect_all_blocks:
            found = {n: jnp.stack([p[n] for p in per_block]) for n in self.collect}
        else:
            found = per_block[-1]
        return x, found


def segment_positions(segment_ids):
    """[B,T] position of each token within its segment (0 for padding)."""
    starts = jnp.concatenate(
        [jnp.ones_like(segment_ids[:, :1], bool), segment_ids[:, 1:] != segment_ids[:, :-1]], axis=1
    )
    index = jnp.arange(segment_ids.shape[1])[None, :]
    start_index = jax.lax.cummax(jnp.where(starts, index, 0), axis=1)
    return jnp.where(segment_ids != 0, index - start_index, 0)
