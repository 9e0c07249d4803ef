"""Transformers-named tensors to Flax decoder parameters, asserting every key and shape."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from ner_jax.model.config import DecoderConfig
from ner_jax.model.decoder import Decoder

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
    """Flax path -> (transformers name without prefix, whether the tensor is transposed).

    `layers_3` -> `layers.3`; Dense `kernel` -> `weight` (transposed: Flax keeps [in, out], torch
    [out, in]); `embedding` and LayerNorm `scale` -> `weight`; other leaves keep their name."""
    *modules, leaf = path
    modules = [re.sub(r"^(\w+?)_(\d+)$", r"\1.\2", m) for m in modules]
    leaf, transposed = {"kernel": ("weight", True), "embedding": ("weight", False)}.get(
        leaf, ("weight" if leaf == "scale" else leaf, False)
    )
    return ".".join([*modules, leaf]), transposed


def load_checked(
    abstract: dict,
    names: Iterable[str],
    load: Callable[[str], np.ndarray],
    known: set[str],
    skip: re.Pattern,
    prefix: str = "",
    dtype=jnp.float32,
    source: str = "checkpoint",
) -> dict:
    """Params shaped like `abstract` (from jax.eval_shape) out of transformers-named tensors.

    `known`: every name (without prefix) the checkpoint may hold, besides those `skip` matches
    (tensors the model never uses); others are an error, and so are missing tensors and shape
    mismatches, each naming `source` and the tensor. `load(name)` runs only for the tensors
    `abstract` needs.
    """
    names = set(names)
    bare = {n: n.removeprefix(prefix) for n in names}
    unknown = sorted(n for n, b in bare.items() if b not in known and not skip.match(b))
    if unknown:
        raise CheckpointMismatch(
            f"{source}: {len(unknown)} tensors that the config does not describe, e.g. "
            f"{unknown[:5]}"
        )
    flat = {}
    for path, spec in traverse_util.flatten_dict(abstract).items():
        name, transposed = hf_name(path)
        full = prefix + name
        if full not in names:
            raise CheckpointMismatch(f"{source}: missing tensor {full} (for {'/'.join(path)})")
        array = np.asarray(load(full))
        array = array.T if transposed else array
        if array.shape != spec.shape:
            raise CheckpointMismatch(
                f"{source}: tensor {full} has shape {array.shape}"
                f"{' after transposing' if transposed else ''}, expected {spec.shape}"
            )
        flat[path] = jnp.asarray(array, dtype=dtype)
    return traverse_util.unflatten_dict(flat)


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
    # Blocks past the tap are checked by name only: the full model's names, plus extras.
    full_model = traverse_util.flatten_dict(abstract_params(config, config.num_hidden_layers))
    known = {hf_name(path)[0] for path in full_model}
    abstract = abstract_params(config, num_blocks)
    return load_checked(abstract, names, load, known, _NOT_NEEDED, prefix, dtype, source)
