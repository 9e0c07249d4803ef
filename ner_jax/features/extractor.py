"""Mention features: character spans to decoder activations at each span's last sub-token.

Texts are packed into rows of a few bucketed lengths (ner_jax.features.batching: a few jit shapes
only), batches are sharded over this process's devices along the batch axis, and the
activations are gathered at the span ends inside jit, so only `[mentions, width]` ever leaves
the device.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from ner_jax.features.batching import Batch, plan_batches
from ner_jax.features.descriptions import query_spans
from ner_jax.model import Decoder, LoadedModel, load_model, parse_tap

TRUNCATED = -1  # token index of a mention whose last sub-token fell past the length limit
# Decoders park attention on their first token (the attention sink), whose activations are
# unlike any word's. Tokenizers that add a BOS keep real words off position 0; for those that
# do not (SmolLM2, Qwen2), we start every text with the token that separated pretraining
# documents. On SmolLM2 block 22 this lifts raw CrossNER R-Precision from 0.180 to 0.391.
DOCUMENT_SEPARATORS = ("<|endoftext|>",)

# A type word inside a sentence follows a space, and subword vocabularies spell it with that
# space ("▁artist", "Ġartist"); a bare query would start with the space-less spelling, another
# token that the corpus never shows at a mention's end. So queries are read after a space.
# (Raw attn@15 on pooled CrossNER: 0.454 bare, 0.520 with the space.)
QUERY_TEMPLATE = " {}"
ONE_DEVICE_TOKENS = 64  # batches of at most this many tokens (queries) run on one device
# Default tokens per batch and local device. On the CPU a smaller batch keeps a product's rows in
# cache, which made Gemma's whole forward faster (docs/performance.md); accelerators want large
# batches.
CPU_TOKENS_PER_DEVICE = 1024
ACCELERATOR_TOKENS_PER_DEVICE = 8192


# Per text, (ids, offsets) as `FeatureExtractor.encode` returned them, or None to tokenise it.
Encodings = Sequence[tuple[np.ndarray, np.ndarray] | None] | None


def start_token(tokenizer) -> int | None:
    """The token to put before every text, or None when the tokenizer adds its own BOS."""
    if tokenizer.bos_id is not None:
        return None
    for token in DOCUMENT_SEPARATORS:
        found = tokenizer.backend.token_to_id(token)
        if found is not None:
            return found
    return None


def mention_tokens(offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """[len(spans)] index of each span's last sub-token: the last real token starting before
    the span's end (special tokens, offsets (0, 0), never count). TRUNCATED if that token is
    not in `offsets` (the text was cut) or the span has no token of its own."""
    offsets = np.asarray(offsets).reshape(-1, 2)
    starts = np.where(offsets[:, 1] > offsets[:, 0], offsets[:, 0], np.iinfo(np.int32).max)
    out = np.full(len(spans), TRUNCATED, np.int32)
    for i, (start, end) in enumerate(spans):
        before = np.flatnonzero(starts < end)
        # The token must also end after the span starts, else the span's own tokens were cut.
        if len(before) and offsets[before[-1], 1] > start:
            out[i] = before[-1]
    return out


@functools.lru_cache(maxsize=16)
def _forward(config, num_blocks: int, components: tuple, blocks: tuple, dtype: str, mesh: Mesh):
    """Jitted (params, tokens, segments, cols) -> {component: [len(blocks), B, S, width]}."""
    all_blocks = blocks != (num_blocks - 1,)
    decoder = Decoder(config, num_blocks, components, all_blocks, jnp.dtype(dtype))
    rows = NamedSharding(mesh, PartitionSpec("data"))

    def forward(params, tokens, segments, cols):
        _, parts = decoder.apply({"params": params}, tokens, segments)
        out = {}
        for name, x in parts.items():
            x = x[jnp.asarray(blocks)] if all_blocks else x[None]  # [L, B, T, W]
            out[name] = jnp.take_along_axis(x, cols[None, :, :, None], axis=2)  # [L, B, S, W]
        return out

    out_rows = NamedSharding(mesh, PartitionSpec(None, "data"))
    replicated = NamedSharding(mesh, PartitionSpec())
    return jax.jit(
        forward,
        in_shardings=(replicated, rows, rows, rows),
        out_shardings={name: out_rows for name in components},
    )


@dataclasses.dataclass
class FeatureExtractor:
    """Activations of `components` at `blocks` (default: the model's tap) for character spans."""

    model: LoadedModel
    components: tuple[str, ...] | None = None  # default: the model's tap component
    blocks: tuple[int, ...] | None = None
    max_tokens: int = 512
    token_budget: int | None = None  # tokens per batch over all local devices (default: above)

    def __post_init__(self):
        if self.token_budget is None:
            cpu = jax.default_backend() == "cpu"
            per_device = CPU_TOKENS_PER_DEVICE if cpu else ACCELERATOR_TOKENS_PER_DEVICE
            self.token_budget = per_device * len(jax.local_devices())
        self.blocks = tuple(self.blocks) if self.blocks else (self.model.tap_block,)
        self.components = tuple(self.components or (self.model.component,))
        if max(self.blocks) > self.model.tap_block or min(self.blocks) < 0:
            raise ValueError(f"blocks {self.blocks} must lie in 0..{self.model.tap_block}")
        # Local devices: under jax.distributed each process encodes its own shard of the corpus.
        self.mesh = Mesh(np.array(jax.local_devices()), ("data",))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        self.params = jax.device_put(self.model.params, replicated)
        spec = (self.model.config, self.model.tap_block + 1, self.components, self.blocks)
        self.forward = _forward(*spec, self.model.dtype, self.mesh)
        # A query or two runs on one device: every device reads all the weights per forward,
        # so for a short batch two CPU devices take longer than one (docs/performance.md).
        self.mesh_one, self.params_one, self.forward_one = self.mesh, self.params, self.forward
        if len(jax.local_devices()) > 1:  # else the one-device path is the path itself
            self.mesh_one = Mesh(np.array(jax.local_devices()[:1]), ("data",))
            self.params_one = jax.tree.map(lambda x: x.addressable_shards[0].data, self.params)
            self.forward_one = _forward(*spec, self.model.dtype, self.mesh_one)

    def widths(self) -> dict[str, int]:
        return {name: self.model.config.component_width(name) for name in self.components}

    def embed_queries(
        self, texts: Sequence[str], template: str = QUERY_TEMPLATE, at: Sequence[str] = ("last",)
    ) -> dict[str, np.ndarray]:
        """Type descriptions by the same path as mentions: each text, written into `template`,
        is read in one forward at each position of `at` (READINGS: "last", its last token;
        "head", the end of its head phrase). {component: [len(blocks), len(texts) * len(at),
        width]}, text-major: row i * len(at) + j is text i at position at[j]."""
        return self(*query_spans(texts, template, at))[0]

    def encode(
        self, texts: Sequence[str], encodings: Encodings = None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(token ids cut to max_tokens, offsets) per text, each starting with BOS or the
        document separator (see start_token). `encodings[i]`, if given and not None, is text
        i's result of an earlier call, which a caller that planned the text with it passes
        back rather than have the text tokenised twice."""
        if encodings is None:
            return self._tokenise(texts)
        if len(encodings) != len(texts):
            raise ValueError(f"{len(texts)} texts, but {len(encodings)} encodings")
        missing = [t for t, e in zip(texts, encodings, strict=True) if e is None]
        fresh = zip(*self._tokenise(missing), strict=True)
        pairs = [e if e is not None else next(fresh) for e in encodings]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def _tokenise(self, texts: Sequence[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        encodings = self.model.tokenizer.encode_batch(list(texts))
        ids, offsets = [e.ids for e in encodings], [e.offsets for e in encodings]
        start = start_token(self.model.tokenizer)
        if start is not None:
            ids = [np.concatenate([[start], i]).astype(np.int32) for i in ids]
            offsets = [np.concatenate([[[0, 0]], o]).astype(np.int32) for o in offsets]
        return [i[: self.max_tokens] for i in ids], offsets

    def __call__(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        bar: tqdm | None = None,
        encodings: Encodings = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """({component: [len(blocks), M, width] float32}, [M] bool kept) for the M spans in
        document order. A span cut off by `max_tokens` is not kept (its rows stay zero).
        `encodings`: see `encode`."""
        ids, cols, mention_ids, kept = self.span_tokens(texts, spans, encodings)
        return self._read(ids, cols, mention_ids, len(kept), bar), kept

    def span_tokens(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        encodings: Encodings = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], np.ndarray]:
        """What the forward reads for the spans: per text its token ids (up to its last
        span), the token of each kept span and that span's output row; [M] bool kept."""
        ids, offsets = self.encode(texts, encodings)
        cols, mention_ids, first = [], [], 0
        for d, doc_spans in enumerate(spans):
            found = mention_tokens(offsets[d], doc_spans)
            found[found >= len(ids[d])] = TRUNCATED
            keep = found != TRUNCATED
            # The decoder is causal: nothing after a text's last mention changes its vectors,
            # so it is not computed (on CrossNER sentences, 10% of the tokens).
            ids[d] = ids[d][: int(found[keep].max()) + 1] if keep.any() else ids[d][:0]
            cols.append(found[keep])
            mention_ids.append(np.arange(first, first + len(doc_spans))[keep])
            first += len(doc_spans)
        kept = np.zeros(first, bool)
        kept[np.concatenate(mention_ids) if mention_ids else []] = True
        return ids, cols, mention_ids, kept

    def all_tokens(
        self, texts: Sequence[str], bar: tqdm | None = None, encodings: Encodings = None
    ) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
        """Activations at every token, for reading spans found after the pass (the mention
        detector's): ([{component: [len(blocks), T_d, width]}], [[T_d, 2] offsets]) per text,
        T_d the text's tokens within max_tokens, start token included (offsets (0, 0)).
        `encodings`: see `encode`."""
        ids, offsets = self.encode(texts, encodings)
        sizes = [len(i) for i in ids]
        starts = np.cumsum([0, *sizes])
        cols = [np.arange(n, dtype=np.int32) for n in sizes]
        rows = [np.arange(starts[d], starts[d + 1]) for d in range(len(ids))]
        found = self._read(ids, cols, rows, int(starts[-1]), bar)
        per_text = [
            {name: x[:, starts[d] : starts[d + 1]] for name, x in found.items()}
            for d in range(len(ids))
        ]
        return per_text, [o[:n] for o, n in zip(offsets, sizes, strict=True)]

    def spans_and_means(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        encodings: Encodings = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
        """`__call__`'s (activations at the spans, kept), and each text's activations averaged
        over its tokens (token_means), from one forward over every token of the texts."""
        per_text, offsets = self.all_tokens(texts, encodings=encodings)
        return (*self.read_spans(per_text, offsets, spans), self.token_means(per_text, offsets))

    def read_spans(
        self,
        per_text: Sequence[dict[str, np.ndarray]],
        offsets: Sequence[np.ndarray],
        spans: Sequence[Sequence[tuple[int, int]]],
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`__call__`'s ({component: [len(blocks), M, width]}, [M] kept) for spans read from
        every token's activations (all_tokens): each at its last sub-token, zero if cut off."""
        at = [mention_tokens(o, s) for o, s in zip(offsets, spans, strict=True)]
        kept = np.concatenate([np.zeros(0, bool), *(a != TRUNCATED for a in at)])
        found = {
            name: np.concatenate(
                [np.zeros((len(self.blocks), 0, width), np.float32)]
                + [
                    f[name][:, np.maximum(a, 0)] * (a != TRUNCATED)[:, None]
                    for f, a in zip(per_text, at, strict=True)
                ],
                axis=1,
            )
            for name, width in self.widths().items()
        }
        return found, kept

    def token_means(
        self, per_text: Sequence[dict[str, np.ndarray]], offsets: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """{component: [len(blocks), len(texts), width]} each text's activations (all_tokens)
        averaged over its own tokens: special tokens (offsets (0, 0)) are left out, as the
        start token, the attention sink, is unlike any word. A text with no token of its own
        averages to zero."""
        means = {}
        for name, width in self.widths().items():
            rows = [np.zeros((len(self.blocks), 0, width), np.float32)]
            for f, o in zip(per_text, offsets, strict=True):
                own = o[:, 1] > o[:, 0]  # [T]
                total = f[name][:, own].sum(axis=1, keepdims=True)  # [L, 1, W]
                rows.append(total / max(int(own.sum()), 1))
            means[name] = np.concatenate(rows, axis=1)
        return means

    def _read(self, ids, cols, mention_ids, count: int, bar: tqdm | None) -> dict[str, np.ndarray]:
        """{component: [len(blocks), count, width]}: row mention_ids[d][i] is text d's token
        cols[d][i]."""
        shape = (len(self.blocks), count)
        out = {n: np.zeros((*shape, w), np.float32) for n, w in self.widths().items()}
        pad_id, devices = self.model.tokenizer.pad_id, len(jax.local_devices())
        read = [d for d in range(len(ids)) if len(cols[d])]  # texts with nothing to read: none
        if bar is not None:
            bar.update(len(ids) - len(read))
        ids, cols, mention_ids = ([x[d] for d in read] for x in (ids, cols, mention_ids))
        mesh, params, forward = self.mesh, self.params, self.forward
        if sum(map(len, ids)) <= ONE_DEVICE_TOKENS:
            mesh, params, forward, devices = self.mesh_one, self.params_one, self.forward_one, 1
        batches = plan_batches(ids, cols, mention_ids, pad_id, self.token_budget, devices)
        # Placed first: under jax.distributed, jit refuses numpy inputs split over devices.
        rows = NamedSharding(mesh, PartitionSpec("data"))
        pending = None  # keep one batch in flight: dispatch the next before reading this one
        for batch in batches:
            inputs = jax.device_put((batch.tokens, batch.segments, batch.cols), rows)
            result = forward(params, *inputs)
            if pending is not None:
                self._store(out, *pending)
            pending = (batch, result)
            if bar is not None:
                bar.update(batch.texts)
        if pending is not None:
            self._store(out, *pending)
        return out

    @staticmethod
    def _store(out: dict, batch: Batch, result: dict) -> None:
        filled = batch.mentions >= 0
        for name, values in result.items():
            out[name][:, batch.mentions[filled]] = np.asarray(values, np.float32)[:, filled]


def extractor_for(
    model: str, taps: Iterable[str], dtype: str = "auto", max_tokens: int = 512
) -> FeatureExtractor:
    """`model` loaded up to the deepest of `taps` ("COMPONENT@BLOCK"), read at all of them."""
    parsed = [parse_tap(t) for t in taps]
    if not parsed:
        raise ValueError("extractor_for needs at least one tap")
    components = tuple(sorted({c for c, _ in parsed}))
    blocks = tuple(sorted({b for _, b in parsed}))
    return FeatureExtractor(load_model(model, max(blocks), dtype), components, blocks, max_tokens)


def l2_normalise(x):
    """Rows scaled to unit length (zero rows stay zero), for cosine similarity as a dot product.

    A jax array (or a tracer, under jit) stays one, in its dtype; anything else becomes float32
    NumPy, so host-side callers never move data to a device."""
    xp = jnp if isinstance(x, jax.Array) else np
    x = x if xp is jnp else np.asarray(x, np.float32)
    return x / xp.maximum(xp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
