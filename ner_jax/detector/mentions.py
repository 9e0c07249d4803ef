"""Mentions found by the detector and read in the same pass: spans and activations per text."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from ner_jax.detector.tagger import Detector
from ner_jax.features import Encodings, FeatureExtractor, InputSpec, mention_tokens
from ner_jax.model import parse_tap


@dataclasses.dataclass(frozen=True)
class DetectedMentions:
    """The spans found in each text, and the extractor's activations at each found span."""

    spans: list[list[tuple[int, int]]]  # per text, in order
    docs: np.ndarray  # [M] text of each span
    mention: dict[tuple[str, int], np.ndarray]  # (component, block) -> [M, width] at span ends
    end: dict[tuple[str, int], np.ndarray]  # the same at each span's sentence end
    means: dict[tuple[str, int], np.ndarray]  # the same averaged over each span's text

    def inputs(self, spec: InputSpec) -> np.ndarray:
        """[M, spec.width] head inputs of the found spans."""
        return spec.combine(
            lambda c, b: self.mention[c, b],
            lambda c, b: self.end[c, b],
            lambda c, b: self.means[c, b][self.docs],
        )


def detect_mentions(
    extractor: FeatureExtractor,
    detector: Detector,
    texts: Sequence[str],
    bar: tqdm | None = None,
    encodings: Encodings = None,
) -> DetectedMentions:
    """Detect and read mentions in one forward pass per text.

    The pass returns every token's activations (the extractor must read the detector's taps);
    the detector tags them, and the spans it finds are read from the same activations at their
    last tokens (and the text's last token, the sentence end, and the text's mean). Text past
    max_tokens is not read; `encodings` are the texts' tokens if the caller has them
    (FeatureExtractor.encode).
    """
    per_text, offsets = extractor.all_tokens(texts, bar, encodings)
    blocks = list(extractor.blocks)
    taps = [
        {
            t: f[c][blocks.index(b)]
            for t, (c, b) in zip(detector.taps, map(parse_tap, detector.taps), strict=True)
        }
        for f in per_text
    ]
    found = detector.spans(texts, offsets, taps)
    # Every decoded span ends on a real token, so each has its last token in the encoding.
    at = [mention_tokens(o, spans) for o, spans in zip(offsets, found, strict=True)]
    docs = np.array([d for d, a in enumerate(at) for _ in a], np.int64)
    mention, end, means = {}, {}, {}
    text_means = extractor.token_means(per_text, offsets)
    for c in extractor.components:
        for i, b in enumerate(blocks):
            width = extractor.model.config.component_width(c)
            rows = [f[c][i][a] for f, a in zip(per_text, at, strict=True)]
            ends = [np.repeat(f[c][i][-1:], len(a), 0) for f, a in zip(per_text, at, strict=True)]
            mention[c, b] = np.concatenate([np.zeros((0, width), np.float32), *rows])
            end[c, b] = np.concatenate([np.zeros((0, width), np.float32), *ends])
            means[c, b] = text_means[c][i]
    return DetectedMentions(found, docs, mention, end, means)
