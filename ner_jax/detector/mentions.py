"""Mentions found by the detector and read in the same pass: spans and activations per text."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from ner_jax.detector.tagger import Detector
from ner_jax.features import Encodings, FeatureExtractor, InputSpec
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
    at_spans, _ = extractor.read_spans(per_text, offsets, found)
    docs = np.array([d for d, spans in enumerate(found) for _ in spans], np.int64)
    text_means = extractor.token_means(per_text, offsets)
    mention, end, means = {}, {}, {}
    for c in extractor.components:
        for i, b in enumerate(blocks):
            width = extractor.model.config.component_width(c)
            ends = [
                np.repeat(f[c][i][-1:], len(s), 0) for f, s in zip(per_text, found, strict=True)
            ]
            mention[c, b] = at_spans[c][i]
            end[c, b] = np.concatenate([np.zeros((0, width), np.float32), *ends])
            means[c, b] = text_means[c][i]
    return DetectedMentions(found, docs, mention, end, means)
