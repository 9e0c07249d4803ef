"""Transformers checkpoint directories: config.json to DecoderConfig, lazy safetensors reads."""

from __future__ import annotations

import functools
import json
import struct
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import ml_dtypes
import numpy as np
from safetensors import safe_open

from ner_jax.model.config import FULL, SLIDING, DecoderConfig, RopeConfig
from ner_jax.model.params import CheckpointMismatch, find_prefix, params_from_tensors

_MODEL_TYPES = {
    "llama": "llama",
    "mistral": "mistral",
    "qwen2": "qwen2",
    "gemma3_text": "gemma3",
    "gemma3": "gemma3",
}


def config_from_hf(hf: dict[str, Any], source: str = "config.json") -> DecoderConfig:
    """A transformers config dict (4.x or 5.x layout) as a DecoderConfig."""
    if hf.get("model_type") == "gemma3" and "text_config" in hf:
        hf = {"model_type": "gemma3_text", **hf["text_config"]}
    model_type = hf.get("model_type")
    if model_type not in _MODEL_TYPES:
        raise ValueError(
            f"{source}: unsupported model_type {model_type!r}; supported: {sorted(_MODEL_TYPES)}"
        )
    arch = _MODEL_TYPES[model_type]
    if hf.get("mlp_bias"):
        raise ValueError(f"{source}: mlp_bias=True is not supported")
    num_layers, heads = hf["num_hidden_layers"], hf["num_attention_heads"]
    gemma = arch == "gemma3"
    window = hf.get("sliding_window")
    if arch == "qwen2" and not hf.get("use_sliding_window", False):
        window = None
    layer_types = hf.get("layer_types")
    if layer_types is None:
        if gemma:
            pattern = hf.get("sliding_window_pattern", 6)
            layer_types = [SLIDING if (i + 1) % pattern else FULL for i in range(num_layers)]
        elif arch == "qwen2" and window is not None:
            first = hf.get("max_window_layers", num_layers)
            layer_types = [SLIDING if i >= first else FULL for i in range(num_layers)]
        else:  # Mistral slides on every layer when it has a window; Llama never does
            layer_types = [SLIDING if window else FULL] * num_layers
    rope_full, rope_sliding = _rope_configs(hf, gemma)
    return DecoderConfig(
        architecture=arch,
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        intermediate_size=hf["intermediate_size"],
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=hf.get("num_key_value_heads") or heads,
        head_dim=hf.get("head_dim") or hf["hidden_size"] // heads,
        rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
        rope_full=rope_full,
        rope_sliding=rope_sliding,
        layer_types=tuple(layer_types),
        sliding_window=window if SLIDING in layer_types else None,
        qkv_bias=arch == "qwen2" or bool(hf.get("attention_bias", False)),
        query_scale=hf.get("query_pre_attn_scalar", 256) ** -0.5 if gemma else None,
        qk_norm=gemma,
        sandwich_norms=gemma,
        scale_embeddings=gemma,
        norm_weight_offset=1.0 if gemma else 0.0,
        hidden_act=hf.get("hidden_activation") or hf.get("hidden_act", "silu"),
    )


def _rope_configs(hf: dict[str, Any], gemma: bool) -> tuple[RopeConfig, RopeConfig]:
    """(full-attention rope, sliding-attention rope) from either config layout."""
    params = hf.get("rope_parameters")
    if params and gemma and "full_attention" in params:  # transformers 5: one dict per layer kind
        return _rope(params["full_attention"], 1e6), _rope(params["sliding_attention"], 1e4)
    if params:
        rope = _rope(params, 1e4)
        return rope, rope
    scaling = dict(hf.get("rope_scaling") or {})
    if gemma:  # transformers 4: scaling applies to global layers, local layers use their own base
        full = _rope({**scaling, "rope_theta": hf.get("rope_theta", 1e6)}, 1e6)
        return full, RopeConfig(theta=hf.get("rope_local_base_freq", 1e4))
    rope = _rope({**scaling, "rope_theta": hf.get("rope_theta", 1e4)}, 1e4)
    return rope, rope


def _rope(values: dict[str, Any], default_theta: float) -> RopeConfig:
    kind = values.get("rope_type") or values.get("type") or "default"
    return RopeConfig(
        theta=float(values.get("rope_theta", default_theta)),
        kind=kind,
        factor=float(values.get("factor", 1.0)),
        low_freq_factor=float(values.get("low_freq_factor", 1.0)),
        high_freq_factor=float(values.get("high_freq_factor", 4.0)),
        original_max_position_embeddings=int(values.get("original_max_position_embeddings", 8192)),
        freq_factors=tuple(float(f) for f in values.get("freq_factors", ())),
    )


def read_config(directory: Path) -> DecoderConfig:
    """The checkpoint's config. Taps, loading and indexing all ask for it: it is parsed once
    per file and content (a frozen value, so callers share it)."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json; not a transformers checkpoint dir")
    return _parsed_config(str(path), path.read_text())


@functools.lru_cache(maxsize=32)
def _parsed_config(source: str, text: str) -> DecoderConfig:
    # Keyed by the text itself, not a timestamp: a rewritten file is never taken for the old one.
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not valid JSON ({error})") from error
    return config_from_hf(values, source)


def tensor_files(directory: Path) -> dict[str, Path]:
    """Tensor name -> safetensors file, for single-file and sharded checkpoints."""
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = {name: directory / shard for name, shard in weight_map.items()}
        missing = sorted({str(p) for p in files.values() if not p.is_file()})
        if missing:
            raise FileNotFoundError(f"{index} names shards that do not exist: {missing}")
        return files
    single = directory / "model.safetensors"
    if not single.is_file():
        raise FileNotFoundError(
            f"{directory}: neither model.safetensors nor model.safetensors.index.json"
        )
    with safe_open(single, framework="numpy") as f:
        return {name: single for name in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)


def bfloat16_tensor(path: Path, name: str) -> np.ndarray:
    """A BF16 tensor of a safetensors file (transformers' Llama 3.1 checkpoints are bf16), read
    from the file's header and bytes as an ml_dtypes.bfloat16 array."""
    with open(path, "rb") as file:
        (size,) = struct.unpack("<Q", file.read(8))
        entry = json.loads(file.read(size))[name]
        start, end = entry["data_offsets"]
        file.seek(8 + size + start)
        raw = file.read(end - start)
    return np.frombuffer(raw, dtype=ml_dtypes.bfloat16).reshape(entry["shape"])


def load_params(directory: Path, num_blocks: int, dtype=jnp.float32) -> tuple[DecoderConfig, dict]:
    """(config, params for blocks 0..num_blocks-1) from a transformers checkpoint directory."""
    directory = Path(directory)
    config = read_config(directory)
    config.check_tap_block(num_blocks - 1)
    files = tensor_files(directory)
    handles = {}

    def load(name: str):
        path = files[name]
        if path not in handles:
            handles[path] = safe_open(path, framework="numpy")
        if handles[path].get_slice(name).get_dtype() == "BF16":
            return bfloat16_tensor(path, name)  # numpy has no bfloat16 for safetensors
        return handles[path].get_tensor(name)

    params = params_from_tensors(config, files, load, num_blocks, dtype, source=str(directory))
    return config, params


def load_output(directory: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(final norm weight [D], LM head [V, D], or None where it is tied to the embedding), the
    tensors after the last block that a truncated decoder never loads."""
    directory = Path(directory)
    files = tensor_files(directory)
    prefix = find_prefix(files, str(directory))

    def load(name: str) -> np.ndarray | None:
        if name not in files:
            return None
        with safe_open(files[name], framework="numpy") as f:
            if f.get_slice(name).get_dtype() == "BF16":
                return bfloat16_tensor(files[name], name).astype(np.float32)
            return f.get_tensor(name).astype(np.float32)

    norm = load(f"{prefix}norm.weight")
    if norm is None:
        raise CheckpointMismatch(f"{directory}: no {prefix}norm.weight (the final norm)")
    # Gemma 3 multimodal checkpoints keep the LM head beside the language model's prefix.
    heads = [n for n in ("lm_head.weight", "language_model.lm_head.weight") if n in files]
    return norm, load(heads[0]) if heads else None
