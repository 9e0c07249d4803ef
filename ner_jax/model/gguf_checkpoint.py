"""GGUF files to transformers-layout checkpoints: metadata to config, dequantised tensors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf.quants import dequantize
from safetensors.numpy import save_file
from tqdm import tqdm

from ner_jax.model.config import FULL, SLIDING

_MODEL_TYPES = {"llama": "llama", "qwen2": "qwen2", "gemma3": "gemma3_text"}
# llama.cpp tensor names (per block, then global) -> transformers names.
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "post_attention_norm": "post_attention_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
ROPE_FREQS = "rope_freqs.weight"  # read into the config, not a weight
_BLOCK = re.compile(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$")
_HF_BLOCK = re.compile(r"^model\.layers\.(\d+)\.")
_GLOBAL = re.compile(r"^(\w+)\.(weight|bias)$")


class _PlainReader(gguf.GGUFReader):
    """GGUFReader on a plain ndarray view of its memmap: slicing an np.memmap runs Python hooks
    per view, which for Gemma's 262k-token vocabulary costs several times the plain view."""

    @property
    def data(self):
        return self._plain

    @data.setter
    def data(self, value):
        self._plain = np.asarray(value)


def open_gguf(path: Path) -> gguf.GGUFReader:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    try:
        return _PlainReader(path)
    except Exception as error:  # the reader raises bare ValueError/struct errors on bad files
        raise ValueError(f"{path}: not a readable GGUF file ({error})") from error


def metadata(reader: gguf.GGUFReader) -> dict[str, Any]:
    """Scalar and string metadata (long arrays such as the vocabulary are left out)."""
    values = {}
    for key, field in reader.fields.items():
        if len(field.data) > 64:
            continue
        try:
            values[key] = field.contents()
        except Exception:  # noqa: S112 (fields gguf cannot decode are not config)
            continue
    return values


def hf_config(reader: gguf.GGUFReader, path: Path) -> dict[str, Any]:
    """The transformers config.json that describes this GGUF's decoder."""
    meta = metadata(reader)
    arch = meta.get("general.architecture")
    if arch not in _MODEL_TYPES:
        raise ValueError(
            f"{path}: unsupported GGUF architecture {arch!r}; supported: {sorted(_MODEL_TYPES)}"
        )

    def get(key, default=None):
        return meta.get(f"{arch}.{key}", default)

    heads = get("attention.head_count")
    hidden = get("embedding_length")
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    config = {
        "model_type": _MODEL_TYPES[arch],
        "vocab_size": get("vocab_size") or (len(tokens.data) if tokens else None),
        "hidden_size": hidden,
        "intermediate_size": get("feed_forward_length"),
        "num_hidden_layers": get("block_count"),
        "num_attention_heads": heads,
        "num_key_value_heads": get("attention.head_count_kv", heads),
        "head_dim": get("attention.key_length") or hidden // heads,
        # GGUF stores eps as float32; 6 significant digits give back the original 1e-6 or 1e-5.
        "rms_norm_eps": float(f"{get('attention.layer_norm_rms_epsilon', 1e-6):.6g}"),
        "rope_theta": get("rope.freq_base", 1e6 if arch == "gemma3" else 1e4),
    }
    if get("rope.scaling.type") == "linear":
        config["rope_scaling"] = {"rope_type": "linear", "factor": get("rope.scaling.factor")}
    freqs = next((t for t in reader.tensors if t.name == ROPE_FREQS), None)
    if freqs is not None:  # Llama 3.1: llama3 scaling as one factor per frequency
        factors = dequantized(freqs, path).reshape(-1)
        config["rope_scaling"] = {"rope_type": "freq_factors", "freq_factors": factors.tolist()}
    if arch == "gemma3":
        # llama.cpp fixes Gemma 3's pattern (5 local layers, then 1 global) unless the file
        # states it, as a period or as one flag per layer (true = sliding).
        pattern = get("attention.sliding_window_pattern", 6)
        if isinstance(pattern, list):
            config["layer_types"] = [SLIDING if flag else FULL for flag in pattern]
        else:
            config["sliding_window_pattern"] = pattern
        config.update(
            sliding_window=get("attention.sliding_window"),
            rope_local_base_freq=10_000.0,
            query_pre_attn_scalar=config["head_dim"],
            hidden_activation="gelu_pytorch_tanh",
        )
    missing = [k for k, v in config.items() if v is None]
    if missing:
        raise ValueError(f"{path}: GGUF metadata lacks {arch}.* values for {missing}")
    return config


def hf_tensor_name(gguf_name: str, arch: str, path: Path) -> str:
    # Llama-style models have one pre-MLP norm (HF: post_attention_layernorm); Gemma 3 has
    # sandwich norms and calls the pre-MLP one pre_feedforward_layernorm.
    ffn_norm = "pre_feedforward_layernorm" if arch == "gemma3" else "post_attention_layernorm"
    block_names = {**_BLOCK_NAMES, "ffn_norm": ffn_norm}
    block = _BLOCK.match(gguf_name)
    if block and block.group(2) in block_names:
        index, base, kind = block.groups()
        return f"model.layers.{index}.{block_names[base]}.{kind}"
    glob = _GLOBAL.match(gguf_name)
    if glob and glob.group(1) in _GLOBAL_NAMES:
        return f"{_GLOBAL_NAMES[glob.group(1)]}.{glob.group(2)}"
    raise ValueError(f"{path}: GGUF tensor {gguf_name!r} has no known transformers counterpart")


def unpermute_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row permutation (interleaved RoPE) to get HF's rotate-half layout."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def hf_tensors(
    reader: gguf.GGUFReader, config: dict[str, Any], path: Path
) -> Iterator[tuple[str, np.ndarray]]:
    """(transformers name, float32 array in transformers layout) for every tensor in the file;
    `config` is hf_config(reader, path)."""
    arch = reader.fields["general.architecture"].contents()
    for tensor in reader.tensors:
        if tensor.name == ROPE_FREQS:
            continue
        name = hf_tensor_name(tensor.name, arch, path)
        array = dequantized(tensor, path)
        if arch == "llama" and re.search(r"\.attn_[qk]\.", tensor.name):
            heads = config[
                "num_attention_heads" if ".attn_q." in tensor.name else "num_key_value_heads"
            ]
            array = unpermute_rows(array, heads)
        if arch == "gemma3" and tensor.name.endswith("norm.weight"):
            array = array - np.float32(1.0)  # llama.cpp stores Gemma's norms as 1 + w
        yield name, array


def dequantized(tensor, path: Path) -> np.ndarray:
    """float32 array shaped (out, in) as transformers stores it."""
    try:
        values = dequantize(tensor.data, tensor.tensor_type)
    except NotImplementedError as error:
        raise ValueError(
            f"{path}: tensor {tensor.name} has unsupported type {tensor.tensor_type.name}; "
            "supported: F32, F16, BF16 and the Q*/IQ*/TQ* types gguf can dequantise"
        ) from error
    shape = tuple(int(d) for d in reversed(tensor.shape))
    return np.asarray(values, dtype=np.float32).reshape(shape)


def convert(gguf_path: Path, out_dir: Path) -> None:
    """Write config.json and float32 safetensors for a GGUF into an existing dir, a shard per
    run of one block's tensors (and per run of the others) with an index: one block at a time
    is held in memory, and a load up to a tap opens only the shards of the blocks it reads."""
    reader = open_gguf(gguf_path)
    config = hf_config(reader, gguf_path)
    weight_map: dict[str, str] = {}
    shard: dict[str, np.ndarray] = {}
    shard_block = None

    def flush():
        file = f"model-{len(set(weight_map.values())):05d}.safetensors"
        save_file(shard, out_dir / file, metadata={"source": str(gguf_path)})
        weight_map.update(dict.fromkeys(shard, file))
        shard.clear()

    tensors = hf_tensors(reader, config, gguf_path)
    for name, array in tqdm(tensors, total=len(reader.tensors), desc="dequantising GGUF"):
        block = _HF_BLOCK.match(name)
        block = int(block.group(1)) if block else None
        if shard and block != shard_block:
            flush()
        shard[name], shard_block = array, block
    if shard:
        flush()
    index = {"metadata": {"source": str(gguf_path)}, "weight_map": weight_map}
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    (out_dir / "config.json").write_text(json.dumps(config, indent=1))
