"""Frozen decoder configuration covering the Llama family, Mistral, Qwen2 and Gemma 3."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

ARCHITECTURES = ("llama", "mistral", "qwen2", "gemma3")
FULL, SLIDING = "full_attention", "sliding_attention"


@dataclasses.dataclass(frozen=True)
class RopeConfig:
    """Rotary embedding of one layer kind. `kind` is HF's `rope_type`."""

    theta: float = 10_000.0
    kind: str = "default"  # "default" | "linear" | "llama3" | "freq_factors"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192
    # llama.cpp's `rope_freqs` (how a Llama 3.1 GGUF carries its llama3 scaling): each
    # frequency is divided by its factor.
    freq_factors: tuple[float, ...] = ()

    def inverse_frequencies(self, head_dim: int) -> np.ndarray:
        """[head_dim // 2] float32, computed in float32 exactly as transformers does."""
        exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(
            head_dim
        )
        inv_freq = (np.float32(1.0) / np.power(np.float32(self.theta), exponents)).astype(
            np.float32
        )
        if self.kind == "default":
            return inv_freq
        if self.kind == "linear":
            return (inv_freq / np.float32(self.factor)).astype(np.float32)
        if self.kind == "llama3":
            return _llama3_scaling(inv_freq, self)
        if self.kind == "freq_factors" and len(self.freq_factors) == len(inv_freq):
            return (inv_freq / np.asarray(self.freq_factors, np.float32)).astype(np.float32)
        if self.kind == "freq_factors":
            raise ValueError(
                f"{len(self.freq_factors)} rope frequency factors for {len(inv_freq)} frequencies"
            )
        raise ValueError(
            f"unsupported rope_type {self.kind!r} (supported: default, linear, llama3, "
            "freq_factors)"
        )


def _llama3_scaling(inv_freq: np.ndarray, rope: RopeConfig) -> np.ndarray:
    # Llama 3.1: long wavelengths are divided by `factor`, short ones kept, the band between
    # is interpolated smoothly (transformers' `_compute_llama3_parameters`).
    old_len = rope.original_max_position_embeddings
    low_freq_wavelen = old_len / rope.low_freq_factor
    high_freq_wavelen = old_len / rope.high_freq_factor
    wavelen = (2 * math.pi / inv_freq).astype(np.float32)
    scaled = np.where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq)
    smooth = (old_len / wavelen - rope.low_freq_factor) / (
        rope.high_freq_factor - rope.low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
    """Everything the Flax decoder needs; HF field names where one exists."""

    architecture: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-6
    rope_full: RopeConfig = RopeConfig()
    rope_sliding: RopeConfig = RopeConfig()
    layer_types: tuple[str, ...] = ()  # FULL or SLIDING per layer; empty means all FULL
    sliding_window: int | None = None
    qkv_bias: bool = False
    query_scale: float | None = None  # None: head_dim ** -0.5
    # Gemma-specific switches, all False for the Llama family and Qwen2.
    qk_norm: bool = False
    sandwich_norms: bool = False
    scale_embeddings: bool = False
    norm_weight_offset: float = 0.0  # Gemma computes x * (1 + w)
    hidden_act: str = "silu"  # "silu" | "gelu_pytorch_tanh"

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {self.architecture!r}; supported: {', '.join(ARCHITECTURES)}"
            )
        if self.layer_types and len(self.layer_types) != self.num_hidden_layers:
            raise ValueError(
                f"layer_types has {len(self.layer_types)} entries for "
                f"{self.num_hidden_layers} layers"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads={self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads={self.num_key_value_heads}"
            )
        if SLIDING in self.layer_types and not self.sliding_window:
            raise ValueError("sliding_attention layers need a sliding_window")

    @property
    def value_width(self) -> int:
        """Width of a tapped value vector: kv_heads * head_dim."""
        return self.num_key_value_heads * self.head_dim

    def component_width(self, component: str) -> int:
        """Width of one token's vector of a decoder component (see decoder.COMPONENTS)."""
        heads = {"q": self.num_attention_heads, "attn": self.num_attention_heads}
        kv = {"k": self.num_key_value_heads, "v": self.num_key_value_heads}
        per_head = {**heads, **kv}
        return per_head[component] * self.head_dim if component in per_head else self.hidden_size

    @property
    def scale(self) -> float:
        return self.query_scale if self.query_scale is not None else self.head_dim**-0.5

    def layer_type(self, index: int) -> str:
        return self.layer_types[index] if self.layer_types else FULL

    def check_tap_block(self, tap_block: int) -> None:
        if not 0 <= tap_block < self.num_hidden_layers:
            raise ValueError(
                f"tap block {tap_block} is out of range: the {self.architecture} model has "
                f"{self.num_hidden_layers} blocks (0..{self.num_hidden_layers - 1})"
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data. Rope frequency factors appear only where a model has them,
        so that the feature stores keyed by this dict before they existed stay valid."""
        fields = dataclasses.asdict(self)
        for rope in (v for v in fields.values() if isinstance(v, dict) and "freq_factors" in v):
            if not rope["freq_factors"]:
                del rope["freq_factors"]
        return fields


# The paper's encoder, for shape checks: block 17 of 32 gives 8 kv heads * 128 = 1024-wide values.
LLAMA31_8B = DecoderConfig(
    architecture="llama",
    vocab_size=128_256,
    hidden_size=4096,
    intermediate_size=14_336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    rms_norm_eps=1e-5,
    rope_full=RopeConfig(
        theta=500_000.0,
        kind="llama3",
        factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        original_max_position_embeddings=8192,
    ),
)
