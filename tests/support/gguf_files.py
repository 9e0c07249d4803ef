"""Writes tiny transformers models as GGUF files the way llama.cpp's converter does."""

from __future__ import annotations

import math
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import quantize

_NAMES = {  # transformers -> llama.cpp, per block
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "pre_feedforward_layernorm": "ffn_norm",
    "post_feedforward_layernorm": "post_ffw_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def llama_cpp_permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py `permute` (rotate-half rows to interleaved pairs)."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def gguf_name(hf_name: str, arch: str) -> str:
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    _, _, index, rest = hf_name.split(".", 3)
    module, kind = rest.rsplit(".", 1)
    if module == "post_attention_layernorm":  # pre-MLP norm in Llama, post-attention in Gemma
        base = "post_attention_norm" if arch == "gemma3" else "ffn_norm"
    else:
        base = _NAMES[module]
    return f"blk.{index}.{base}.{kind}"


def llama3_rope_factors(c) -> np.ndarray:
    """llama.cpp's `rope_freqs` for a Llama 3.1 config (convert_hf_to_gguf.py's formula): 1 for
    short wavelengths, `factor` for long ones, a smooth band between."""
    rope = c.rope_parameters
    base, dim = rope["rope_theta"], c.head_dim
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            factors.append(1.0)
        elif wavelen > old / low:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(factors, np.float32)


def write_gguf(model, path: Path, quant: gguf.GGMLQuantizationType | None = None) -> Path:
    """Write `model` (a tiny transformers decoder) as GGUF; 2-D tensors optionally quantised."""
    c = model.config
    arch = {"llama": "llama", "qwen2": "qwen2", "gemma3_text": "gemma3"}[c.model_type]
    writer = gguf.GGUFWriter(path, arch)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_context_length(128)
    writer.add_embedding_length(c.hidden_size)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_key_length(c.head_dim)
    writer.add_value_length(c.head_dim)
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_vocab_size(c.vocab_size)
    if arch == "gemma3":
        writer.add_rope_freq_base(c.rope_parameters["full_attention"]["rope_theta"])
        writer.add_sliding_window(c.sliding_window)
    else:
        writer.add_rope_freq_base(c.rope_parameters["rope_theta"])
    if c.rope_parameters.get("rope_type") == "llama3":  # Llama 3.1: scaling as rope_freqs
        writer.add_tensor("rope_freqs.weight", llama3_rope_factors(c))
    for name, tensor in model.state_dict().items():
        array = tensor.detach().numpy().astype(np.float32)
        if arch == "llama" and ".q_proj.weight" in name:
            array = llama_cpp_permute(array, c.num_attention_heads)
        if arch == "llama" and ".k_proj.weight" in name:
            array = llama_cpp_permute(array, c.num_key_value_heads)
        if arch == "gemma3" and name.endswith("norm.weight"):
            array = array + np.float32(1.0)
        if quant is not None and array.ndim == 2:
            writer.add_tensor(gguf_name(name, arch), quantize(array, quant), raw_dtype=quant)
        else:
            writer.add_tensor(gguf_name(name, arch), array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
