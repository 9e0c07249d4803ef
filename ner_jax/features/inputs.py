"""What a projection head reads: tapped activations at a mention, optionally with its sentence.

A decoder sees only the left context of a mention's last token. The last token of the sentence
has read the whole sentence, so `sentence_end` appends its activations to each mention's. Every
tap is L2-normalised before concatenation (blocks differ in scale by orders of magnitude). A type
description is embedded as its own sentence, so its end part repeats its mention part.
`context` appends the taps averaged over the mention's whole text (raw: the head centres them);
a description's are averaged over the description written alone (query_readings).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ner_jax.data import Benchmark
from ner_jax.features.descriptions import query_spans
from ner_jax.features.extractor import QUERY_TEMPLATE, Encodings, FeatureExtractor, l2_normalise
from ner_jax.features.store import FeatureStore, cached_means, cached_store
from ner_jax.model import parse_tap


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """Taps ("COMPONENT@BLOCK") concatenated per mention, and whether to add the sentence end."""

    taps: tuple[str, ...]
    sentence_end: bool = False
    # Each tap scaled to unit length before the head (ours); the paper's head reads raw values.
    unit_taps: bool = True
    context: bool = False  # the taps averaged over the text, after the rest

    def __post_init__(self):
        if not self.taps:
            raise ValueError("InputSpec needs at least one tap")
        for tap in self.taps:
            parse_tap(tap)

    @property
    def parsed(self) -> list[tuple[str, int]]:
        return [parse_tap(t) for t in self.taps]

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(sorted({c for c, _ in self.parsed}))

    @property
    def blocks(self) -> tuple[int, ...]:
        return tuple(sorted({b for _, b in self.parsed}))

    def width(self, config) -> int:
        return self.context_width(config) * (1 + self.sentence_end + self.context)

    def context_width(self, config) -> int:
        """Width of one reading of the taps (the context part's, if the spec reads it)."""
        return sum(config.component_width(c) for c, _ in self.parsed)

    def combine(self, get_mention, get_end, get_context=None) -> np.ndarray:
        """Concatenate the taps, each unit-normalised unless unit_taps is off, then the
        context's as they are; get_*(component, block) -> [N, width] arrays."""
        scale = l2_normalise if self.unit_taps else np.asarray
        parts = [scale(get_mention(c, b)) for c, b in self.parsed]
        if self.sentence_end:
            parts += [scale(get_end(c, b)) for c, b in self.parsed]
        if self.context:
            parts += [np.asarray(get_context(c, b), np.float32) for c, b in self.parsed]
        return np.concatenate(parts, axis=-1)


@dataclasses.dataclass
class CorpusFeatures:
    """A benchmark's mentions (in document order) and sentence ends, in one feature store."""

    bench: Benchmark
    store: FeatureStore
    mention_rows: np.ndarray  # [M] store row of each mention
    end_rows: np.ndarray  # [D] store row of each document's last token
    mention_docs: np.ndarray  # [M] document index of each mention
    mention_types: list[str]  # [M] label of each mention
    # () -> (component, block) -> [D, width] each document's taps averaged over its tokens,
    # read on first use (only heads that read the context need them).
    means: Callable[[], dict[tuple[str, int], np.ndarray]]

    @property
    def kept(self) -> np.ndarray:
        """[M] mentions with features (not cut off by max_tokens)."""
        return self.store.kept[self.mention_rows]

    def inputs(self, spec: InputSpec) -> np.ndarray:
        """[M, spec.width] head inputs (rows of mentions that were not kept are zero)."""
        ends = self.end_rows[self.mention_docs]
        inputs = spec.combine(
            lambda c, b: self.store.get(c, b)[self.mention_rows],
            lambda c, b: self.store.get(c, b)[ends],
            lambda c, b: self.means()[c, b][self.mention_docs],
        )
        return inputs * self.kept[:, None]


def corpus_features(
    extractor: FeatureExtractor, bench: Benchmark, root: Path, progress: bool = True
) -> CorpusFeatures:
    """Extract (or reuse from `root`) features at every gold mention and every sentence end
    (and each document's mean, when a head asks for it)."""
    spans, mention_rows, end_rows, docs, types = [], [], [], [], []
    for d, document in enumerate(bench.documents):
        first = sum(map(len, spans))
        mention_rows += range(first, first + len(document.spans))
        end_rows.append(first + len(document.spans))
        docs += [d] * len(document.spans)
        types += [s.type for s in document.spans]
        spans.append([(s.start, s.end) for s in document.spans] + [(0, len(document.text))])
    texts = [d.text for d in bench.documents]
    store = cached_store(extractor, texts, spans, root, progress)
    return CorpusFeatures(
        bench,
        store,
        np.array(mention_rows, np.int64),
        np.array(end_rows, np.int64),
        np.array(docs, np.int64),
        types,
        functools.cache(lambda: cached_means(extractor, texts, root, progress)),
    )


def mention_inputs(
    extractor: FeatureExtractor,
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
    spec: InputSpec,
    encodings: Encodings = None,
) -> tuple[np.ndarray, np.ndarray]:
    """In memory, for small corpora: ([M, spec.width] head inputs, [M] kept) of the spans in
    document order (with spec.sentence_end, each text's end read as its sentence end; with
    spec.context, every token of each text is read for its mean)."""
    # Only a head that reads sentence ends asks for the text's end: that span would make the
    # forward run past the last mention (on CrossNER sentences, 16% more tokens).
    end_spans = [[(0, len(t))] if spec.sentence_end else [] for t in texts]
    with_ends = [[*s, *e] for s, e in zip(spans, end_spans, strict=True)]
    means = None
    if spec.context:
        found, kept, means = extractor.spans_and_means(texts, with_ends, encodings)
    else:
        found, kept = extractor(texts, with_ends, encodings=encodings)
    blocks = list(extractor.blocks)
    starts = np.cumsum([0] + [len(s) for s in with_ends])
    rows = np.array([starts[d] + i for d, s in enumerate(spans) for i in range(len(s))], int)
    # Each mention's sentence-end row (read only with spec.sentence_end).
    ends = np.array([starts[d] + len(s) for d, s in enumerate(spans) for _ in s], int)

    def get(rows):
        return lambda c, b: found[c][blocks.index(b)][rows]

    docs = np.array([d for d, s in enumerate(spans) for _ in s], int)
    kept = kept[rows] & (kept[ends] if spec.sentence_end else True)
    return spec.combine(get(rows), get(ends), lambda c, b: means[c][blocks.index(b)][docs]), kept


def query_inputs(
    extractor: FeatureExtractor,
    texts: Sequence[str],
    spec: InputSpec,
    template: str = QUERY_TEMPLATE,
) -> np.ndarray:
    """[Q, spec.width] head inputs of type descriptions (each text is its own sentence),
    each written into `template` first and read at its last token."""
    return query_readings(extractor, texts, spec, template)[0]


def query_readings(
    extractor: FeatureExtractor,
    texts: Sequence[str],
    spec: InputSpec,
    template: str = QUERY_TEMPLATE,
    at: Sequence[str] = ("last",),
) -> np.ndarray:
    """[len(at), Q, spec.width] head inputs of type descriptions read at each position of `at`
    (FeatureExtractor.embed_queries), all in one forward. With spec.context, each reading
    ends with the taps averaged over the description written alone (QUERY_TEMPLATE), as a
    document's are over its own words: a template's words would weigh in every query's mean
    and no document's (docs/head.md measures both)."""
    written, spans = query_spans(texts, template, at)
    if spec.context:
        plain = [] if template == QUERY_TEMPLATE else [QUERY_TEMPLATE.format(t) for t in texts]
        alone = [[] for _ in plain]
        found, _, means = extractor.spans_and_means([*written, *plain], [*spans, *alone])
        means = {name: m[:, len(m[0]) - len(texts) :] for name, m in means.items()}
    else:
        found = extractor(written, spans)[0]
    blocks = list(extractor.blocks)

    def get(component: str, block: int) -> np.ndarray:
        return found[component][blocks.index(block)]

    def get_context(component: str, block: int) -> np.ndarray:
        return np.repeat(means[component][blocks.index(block)], len(at), axis=0)

    inputs = spec.combine(get, get, get_context)  # [Q * len(at), width], text-major
    return inputs.reshape(len(texts), len(at), -1).transpose(1, 0, 2)
