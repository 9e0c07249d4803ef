"""Transformers-named tensors to Flax decoder parameters, asserting every key and shape."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from ner_jax.config import DecoderConfig
from ner_jax.decoder import Decoder

# Prefixes under which checkpoints keep the text decoder (Gemma 3 multimodal ones nest it).
_PREFIXES = ("model.language_model.", "language_model.model.", "model.", "")
# Tensors a truncated decoder never needs: the final norm, the LM head, rotary caches.
_NOT_NEEDED = re.compile(r"^(norm\.weight|lm_head\.weight|.*rotary_emb\.inv_freq)$")


class CheckpointMismatch(ValueError):
    """A checkpoint whose tensors do not fit the model its config describes."""


def abstract_params(config: DecoderConfig, num_blocks: int) -> dict:
    """Parameter shapes of the truncated decoder via `jax.eval_shape` (nothing allocated)."""
    model = Decoder(config, num_blocks)
    tokens = jax.ShapeDtypeStruct((1, 4), jnp.int32)
    return jax.eval_shape(model.init, jax.random.key(0), tokens, tokens)["params"]


def hf_name(path: tuple[str, ...]) -> tuple[str, bool]:
    """Flax path -> (transformers name without prefix, whether the tensor is transposed)."""
    *modules, leaf = path
    modules = [re.sub(r"^layers_(\d+)$", r"layers.\1", m) for m in modules]
    if leaf == "kernel":  # nn.Dense keeps [in, out]; torch Linear keeps [out, in]
        return ".".join([*modules, "weight"]), True
    if leaf == "embedding":
        return ".".join([*modules, "weight"]), False
    return ".".join([*modules, leaf]), False


def find_prefix(names: Iterable[str], source: str) -> str:
    names = set(names)
    for prefix in _PREFIXES:
        if f"{prefix}embed_tokens.weight" in names:
            return prefix
    raise CheckpointMismatch(f"{source}: no embed_tokens.weight tensor; is this a decoder LLM?")


def params_from_tensors(
    config: DecoderConfig,
    names: Iterable[str],
    load: Callable[[str], np.ndarray],
    num_blocks: int,
    dtype=jnp.float32,
    source: str = "checkpoint",
) -> dict:
    """Build Flax params for blocks 0..num_blocks-1 from transformers-named tensors.

    `load(name)` is called only for the tensors the truncated model needs. Raises
    CheckpointMismatch naming `source` if a needed tensor is missing, a shape differs, or the
    checkpoint holds a tensor this architecture does not know.
    """
    names = set(names)
    prefix = find_prefix(names, source)
    # Every tensor must belong to the full model (blocks past the tap are checked by name only).
    full_model = traverse_util.flatten_dict(abstract_params(config, config.num_hidden_layers))
    known = {prefix + hf_name(path)[0] for path in full_model}
    unknown = sorted(n for n in names - known if not _NOT_NEEDED.match(n.removeprefix(prefix)))
    if unknown:
        raise CheckpointMismatch(
            f"{source}: {len(unknown)} tensors that the {config.architecture} config does not "
            f"describe, e.g. {unknown[:5]}"
        )
    expected = traverse_util.flatten_dict(abstract_params(config, num_blocks))
    flat = {}
    for path, spec in expected.items():
        name, transposed = hf_name(path)
        full = prefix + name
        if full not in names:
            raise CheckpointMismatch(
                f"{source}: missing tensor {full} (needed for {'/'.join(path)})"
            )
        array = np.asarray(load(full))
        if transposed:
            array = array.T
        if array.shape != spec.shape:
            raise CheckpointMismatch(
                f"{source}: tensor {full} has shape {array.shape}"
                f"{' after transposing' if transposed else ''}, expected {spec.shape}"
            )
        flat[path] = jnp.asarray(array, dtype=dtype)
    return traverse_util.unflatten_dict(flat)
