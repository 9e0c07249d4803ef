"""Text with character spans to value vectors at each span's last sub-token."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from ner_jax.decoder import Decoder
from ner_jax.models import LoadedModel
from ner_jax.tokenizer import last_token_index


@dataclasses.dataclass(frozen=True)
class Mention:
    doc: int  # index of the text it is in
    start: int  # character offsets, end exclusive
    end: int


def bucket_length(n: int, minimum: int = 16) -> int:
    """Pad lengths to powers of two so that jit compiles once per bucket, not per length."""
    return max(minimum, 1 << (n - 1).bit_length())


def pad(ids: list[np.ndarray], pad_id: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded tokens and segment ids (1 = real token, 0 = padding), both [B, length]."""
    tokens = np.full((len(ids), length), pad_id, np.int32)
    segments = np.zeros((len(ids), length), np.int32)
    for row, seq in enumerate(ids):
        tokens[row, : len(seq)] = seq
        segments[row, : len(seq)] = 1
    return tokens, segments


@functools.lru_cache(maxsize=8)
def _tapped_values_fn(config, num_blocks: int, dtype: str, all_blocks: bool):
    decoder = Decoder(
        config, num_blocks, collect=("v",), collect_all_blocks=all_blocks, dtype=jnp.dtype(dtype)
    )

    @jax.jit
    def tapped_values(params, tokens, segments, rows, cols):
        _, parts = decoder.apply({"params": params}, tokens, segments)
        # Gathered on device: [M, kv_heads*head_dim], or [blocks, M, ...] for all blocks.
        return parts["v"][..., rows, cols, :]

    return tapped_values


def value_vectors(
    model: LoadedModel,
    texts: list[str],
    mentions: list[Mention],
    batch_size: int = 16,
    all_blocks: bool = False,
) -> np.ndarray:
    """[len(mentions), value width] float32: the tap block's value vector at each span end.

    With `all_blocks`, [tap_block + 1, len(mentions), width]: every block up to the tap.
    """
    encodings = model.tokenizer.encode_batch(texts)
    # The value vector is read at each mention's last sub-token.
    token_of = [last_token_index(encodings[m.doc].offsets, m.end) for m in mentions]
    tapped_values = _tapped_values_fn(model.config, model.tap_block + 1, model.dtype, all_blocks)
    blocks = (model.tap_block + 1,) if all_blocks else ()
    out = np.zeros((*blocks, len(mentions), model.config.value_width), np.float32)
    by_doc: dict[int, list[int]] = {}
    for i, m in enumerate(mentions):
        by_doc.setdefault(m.doc, []).append(i)
    docs = sorted(by_doc)
    for first in range(0, len(docs), batch_size):
        batch = docs[first : first + batch_size]
        ids = [encodings[d].ids for d in batch]
        tokens, segments = pad(ids, model.tokenizer.pad_id, bucket_length(max(map(len, ids))))
        picked = [(row, i) for row, d in enumerate(batch) for i in by_doc[d]]
        # Pad the gather to a bucket as well (repeating row 0, token 0) to bound recompiles.
        size = bucket_length(len(picked), minimum=8)
        rows = np.zeros(size, np.int32)
        cols = np.zeros(size, np.int32)
        rows[: len(picked)] = [row for row, _ in picked]
        cols[: len(picked)] = [token_of[i] for _, i in picked]
        values = tapped_values(model.params, tokens, segments, rows, cols)
        out[..., [i for _, i in picked], :] = np.asarray(values, np.float32)[..., : len(picked), :]
    return out


def l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
