"""Every token's activations and gold tag for labelled sentences: the mention detector's data.

Extraction runs in chunks saved as they finish (float16: tags need no more), so a long run
resumes where it stopped; a chunk is reused only for the same model, taps and sentences.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import logging
from tqdm import tqdm

from ner_jax.detector.tags import token_tags
from ner_jax.features import FeatureExtractor, l2_normalise
from ner_jax.files import atomic
from ner_jax.model import parse_tap

CHUNK = 1024  # sentences per saved chunk


@dataclasses.dataclass
class TokenData:
    """Sentences' tokens, concatenated: unit features [N, width] per tap, tags [N], offsets."""

    texts: list[str]
    spans: list[list[tuple[int, int]]]  # gold character spans per text
    lengths: np.ndarray  # [S] tokens per text (start token included)
    features: dict[str, np.ndarray]  # tap -> [N, width] float16
    tags: np.ndarray  # [N] int32
    offsets: np.ndarray  # [N, 2]
    # Loss weight of O tokens: < 1 where O is a weak negative (a corpus that labels only some
    # types leaves mentions of the others O).
    o_weight: float = 1.0

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)])

    @property
    def text_offsets(self) -> list[np.ndarray]:
        """[T_d, 2] token offsets per text."""
        starts = self.starts
        return [self.offsets[starts[d] : starts[d + 1]] for d in range(len(self.texts))]

    def subset(self, texts: Sequence[int]) -> TokenData:
        """The token data of these texts, in this order."""
        starts = self.starts
        rows = [np.arange(starts[d], starts[d + 1]) for d in texts]
        rows = np.concatenate([np.zeros(0, np.int64), *rows])
        return TokenData(
            [self.texts[d] for d in texts],
            [self.spans[d] for d in texts],
            self.lengths[list(texts)],
            {k: v[rows] for k, v in self.features.items()},
            self.tags[rows],
            self.offsets[rows],
            self.o_weight,
        )

    @classmethod
    def concat(cls, parts: Sequence[TokenData]) -> TokenData:
        weights = {p.o_weight for p in parts}
        if len(weights) > 1:
            raise ValueError(f"cannot pool token data of different O weights {sorted(weights)}")
        return cls(
            [t for p in parts for t in p.texts],
            [s for p in parts for s in p.spans],
            np.concatenate([p.lengths for p in parts]),
            {k: np.concatenate([p.features[k] for p in parts]) for k in parts[0].features},
            np.concatenate([p.tags for p in parts]),
            np.concatenate([p.offsets for p in parts]),
            weights.pop(),
        )


def extract_tokens(
    extractor: FeatureExtractor,
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
    taps: Sequence[str],
    cache: Path | None = None,
    progress: bool = True,
) -> TokenData:
    """Token features at `taps` (which the extractor must read) for the texts, with gold tags."""
    blocks = list(extractor.blocks)
    for component, block in map(parse_tap, taps):
        if component not in extractor.components or block not in blocks:
            raise ValueError(f"tap {component}@{block} is not read by the extractor")
    key = hashlib.sha256(
        json.dumps([extractor.model.name, extractor.max_tokens, list(taps)]).encode()
    )
    parts = []
    with tqdm(total=len(texts), unit="text", desc="token features", disable=not progress) as bar:
        for first in range(0, len(texts), CHUNK):
            chunk_texts = list(texts[first : first + CHUNK])
            chunk_spans = [list(s) for s in spans[first : first + CHUNK]]
            chunk_key = key.copy()
            chunk_key.update(json.dumps([chunk_texts, chunk_spans]).encode())
            path = cache / f"{chunk_key.hexdigest()[:24]}.npz" if cache else None
            if path is not None and path.is_file():
                parts.append(_load(path, chunk_texts, chunk_spans, taps))
                bar.update(len(chunk_texts))
                continue
            per_text, offsets = extractor.all_tokens(chunk_texts, bar)
            # Unit rows: the detector normalises every tap, and Gemma's residual stream
            # overflows float16 as it is.
            features = {
                tap: l2_normalise(np.concatenate([x[c][blocks.index(b)] for x in per_text])).astype(
                    np.float16
                )
                for tap, (c, b) in zip(taps, map(parse_tap, taps), strict=True)
            }
            tags = [
                token_tags(t, o, s)
                for t, o, s in zip(chunk_texts, offsets, chunk_spans, strict=True)
            ]
            part = TokenData(
                chunk_texts,
                chunk_spans,
                np.array([len(o) for o in offsets], np.int64),
                features,
                np.concatenate(tags),
                np.concatenate(offsets),
            )
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                arrays = {f"f:{k}": v for k, v in features.items()}
                atomic.save_npz(
                    path, lengths=part.lengths, tags=part.tags, offsets=part.offsets, **arrays
                )
            parts.append(part)
    if cache is not None:
        logging.info("token features of %d texts cached in %s", len(texts), cache)
    return TokenData.concat(parts)


def _load(path: Path, texts, spans, taps) -> TokenData:
    with np.load(path) as saved:
        features = {tap: saved[f"f:{tap}"] for tap in taps}
        return TokenData(texts, spans, saved["lengths"], features, saved["tags"], saved["offsets"])
