"""The decoder's own verdict on a statement: the log-probability it gives a continuation."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ner_jax.model import LoadedModel, RMSNorm, load_model, output_params, resolve_tap

# Axes: B statements in a batch, T tokens of a statement, C tokens of its continuation,
# D model width, V vocabulary.
ROWS = 8  # statements per forward: the [B, C, V] logits of a 262k vocabulary stay ~100 MB
SHORTEST = 16  # token lengths are padded up to powers of two from here, to bound recompiles


class Verdict:
    """A whole decoder (every block, final norm and LM head) scoring continuations."""

    def __init__(self, model: LoadedModel, norm: np.ndarray, unembedding: jax.Array):
        if model.tap_block != model.config.num_hidden_layers - 1:
            raise ValueError(
                f"{model.name}: a verdict needs every block, loaded up to "
                f"{model.tap_block} of {model.config.num_hidden_layers}"
            )
        self.model, self.norm, self.unembedding = model, jnp.asarray(norm), unembedding
        self._decoder = model.decoder(collect=())

    @classmethod
    def load(cls, name_or_path: str, dtype: str = "auto") -> Verdict:
        """The model's every block with its final norm and LM head (the embedding, if tied)."""
        last = resolve_tap(name_or_path, 0).config.num_hidden_layers - 1  # config.json alone
        model = load_model(name_or_path, last, dtype=dtype, component="resid_out")
        norm, lm_head = output_params(name_or_path)
        if lm_head is None:  # tied: the LM head is the embedding matrix
            unembedding = model.params["embed_tokens"]["embedding"]
        else:
            unembedding = jnp.asarray(lm_head, model.params["embed_tokens"]["embedding"].dtype)
        return cls(model, norm, unembedding)

    def log_probs(self, prefixes: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        """[N] float32: log P(continuation | prefix) for each pair, summed over the
        continuation's tokens. The two are tokenised apart (the prefix with the model's start
        token), so a continuation is the same tokens after every prefix."""
        if len(prefixes) != len(continuations):
            raise ValueError(f"{len(prefixes)} prefixes, but {len(continuations)} continuations")
        tokenizer = self.model.tokenizer
        heads = [e.ids for e in tokenizer.encode_batch(list(prefixes))]
        # A search's statements share one continuation: each distinct one is tokenised once.
        tokenised = {c: self._tail(tokenizer, c) for c in set(continuations)}
        tails = [tokenised[c] for c in continuations]
        out = np.zeros(len(heads), np.float32)
        order = np.argsort([len(h) + len(t) for h, t in zip(heads, tails, strict=True)])
        for start in range(0, len(order), ROWS):
            rows = order[start : start + ROWS]
            out[rows] = self._batch([heads[r] for r in rows], [tails[r] for r in rows])
        return out

    @staticmethod
    def _tail(tokenizer, continuation: str) -> np.ndarray:
        encoding = tokenizer.encode(continuation)
        ids = encoding.ids[np.any(encoding.offsets != 0, axis=1)]  # without the start token
        if len(ids) == 0:
            raise ValueError(f"continuation {continuation!r} has no tokens")
        return ids

    def _batch(self, heads: list[np.ndarray], tails: list[np.ndarray]) -> np.ndarray:
        length = _padded(max(len(h) + len(t) for h, t in zip(heads, tails, strict=True)))
        width = _padded(max(map(len, tails)), 4)
        tokens = np.full((ROWS, length), self.model.tokenizer.pad_id, np.int32)  # [B,T]
        segments = np.zeros((ROWS, length), np.int32)
        read = np.zeros((ROWS, width), np.int32)  # [B,C] position whose output predicts
        targets = np.zeros((ROWS, width), np.int32)  # [B,C] the continuation's tokens
        mask = np.zeros((ROWS, width), bool)
        for row, (head, tail) in enumerate(zip(heads, tails, strict=True)):
            ids = np.concatenate([head, tail])
            tokens[row, : len(ids)], segments[row, : len(ids)] = ids, 1
            read[row, : len(tail)] = np.arange(len(head) - 1, len(ids) - 1)
            targets[row, : len(tail)], mask[row, : len(tail)] = tail, True
        sums = _continuation_log_probs(
            self._decoder,
            self.model.params,
            self.norm,
            self.unembedding,
            *map(jnp.asarray, (tokens, segments, read, targets, mask)),
        )
        return np.asarray(sums)[: len(heads)]


def _padded(n: int, shortest: int = SHORTEST) -> int:
    return max(shortest, 1 << (n - 1).bit_length())


@functools.partial(jax.jit, static_argnums=0)
def _continuation_log_probs(
    decoder, params, norm, unembedding, tokens, segments, read, targets, mask
):  # [B] summed log-probabilities of the continuation tokens
    hidden, _ = decoder.apply({"params": params}, tokens, segments)  # [B,T,D]
    hidden = jnp.take_along_axis(hidden, read[..., None], axis=1)  # [B,C,D]
    final_norm = RMSNorm(decoder.config.rms_norm_eps, decoder.config.norm_weight_offset)
    hidden = final_norm.apply({"params": {"weight": norm}}, hidden)
    logits = jnp.einsum(
        "bcd,vd->bcv", hidden, unembedding, preferred_element_type=jnp.float32
    )  # [B,C,V]
    chosen = jnp.take_along_axis(logits, targets[..., None], axis=2)[..., 0]  # [B,C]
    log_probs = chosen - jax.nn.logsumexp(logits, axis=2)
    return jnp.sum(jnp.where(mask, log_probs, 0.0), axis=1)  # [B]
