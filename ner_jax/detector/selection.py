"""The detector's operating point, chosen by the retrieval it gives rather than by span F1.

A missed mention makes its document unretrievable; an extra one only adds a vector. So each
threshold is scored by the R-Precision of a retrieval system (a head's or a raw tap's vectors
at every token, computed once) over the mention ends that threshold finds, against the same
system on the gold spans, and the threshold kept is the highest (fewest vectors) whose
R-Precision is within `tolerance` of the best, averaged over the selection splits (or over
several sweeps: a detector generalises best at the point that is best on corpora it never saw).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from ner_jax.data import best_mention_scores, evaluate_rankings, rank
from ner_jax.detector.data import TokenData
from ner_jax.detector.tagger import Detector, token_inputs
from ner_jax.detector.tags import span_scores
from ner_jax.features import mention_tokens

THRESHOLDS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
TOLERANCE = 0.005  # R-Precision given up for fewer vectors


@dataclasses.dataclass(frozen=True)
class RetrievalSplit:
    """Labelled token data and one retrieval system's vectors over it: one document per text,
    one query per type, relevant = the texts with a gold span of that type."""

    tokens: TokenData
    relevant: list[list[int]]  # per query, its relevant texts
    queries: np.ndarray  # [Q, dims] unit query vectors
    vectors: np.ndarray  # [N, dims] unit vectors of every token

    def r_precision(self, ends: np.ndarray) -> float:
        """Macro R-Precision when the documents' mentions end at these token rows."""
        docs = np.repeat(np.arange(len(self.tokens.texts)), self.tokens.lengths)[ends]
        scores = best_mention_scores(
            self.queries @ self.vectors[ends].T, docs, len(self.tokens.texts)
        )
        return evaluate_rankings(rank(scores), self.relevant)["r_precision"]


def mention_ends(tokens: TokenData, spans: Sequence[Sequence[tuple[int, int]]]) -> np.ndarray:
    """[M] token rows of the spans' last tokens (spans per text; unreadable ones dropped)."""
    rows = [
        first + found[found >= 0]
        for first, found in zip(
            tokens.starts,
            map(mention_tokens, tokens.text_offsets, spans),
            strict=False,  # starts has one more entry
        )
    ]
    return np.concatenate([np.zeros(0, np.int64), *rows]).astype(np.int64)


def tag_log_probs(detector: Detector, tokens: TokenData) -> list[np.ndarray]:
    """[T_d, 3] tag log-probabilities per text."""
    starts = tokens.starts
    return detector.log_probs(
        [
            token_inputs(
                {t: tokens.features[t][starts[d] : starts[d + 1]] for t in detector.taps},
                detector.taps,
            )
            for d in range(len(tokens.texts))
        ]
    )


def sweep(
    detector: Detector,
    splits: Sequence[RetrievalSplit],
    thresholds: Sequence[float | None] = THRESHOLDS,
) -> dict:
    """Per operating point (None: one Viterbi path), its span scores, mentions per document
    and R-Precision per split and averaged; "gold" is the same system on the gold spans."""
    log_probs = [tag_log_probs(detector, s.tokens) for s in splits]
    gold = [s.r_precision(mention_ends(s.tokens, s.tokens.spans)) for s in splits]
    out = {"gold": {"r_precision": float(np.mean(gold)), "per_split": gold}, "points": []}
    for threshold in thresholds:
        point = detector.with_threshold(threshold) if threshold is not None else detector.viterbi()
        per_split = []
        for s, p in zip(splits, log_probs, strict=True):
            found = point.decode(s.tokens.texts, s.tokens.text_offsets, p)
            scores = span_scores(found, s.tokens.spans)
            per_split.append(
                dict(
                    scores,
                    r_precision=s.r_precision(mention_ends(s.tokens, found)),
                    mentions_per_document=scores["predicted"] / max(len(found), 1),
                )
            )
        out["points"].append(
            {
                "threshold": threshold,
                "r_precision": float(np.mean([p["r_precision"] for p in per_split])),
                "mentions_per_document": float(
                    np.mean([p["mentions_per_document"] for p in per_split])
                ),
                "per_split": per_split,
            }
        )
    return out


def choose_threshold(swept: dict | Sequence[dict], tolerance: float = TOLERANCE) -> float:
    """The highest threshold whose R-Precision is within `tolerance` of the best one's; given
    several sweeps (of the same thresholds), their mean R-Precision decides."""
    sweeps = [swept] if isinstance(swept, dict) else list(swept)
    scores: dict[float, list[float]] = {}
    for one in sweeps:
        for p in one["points"]:
            if p["threshold"] is not None:
                scores.setdefault(p["threshold"], []).append(p["r_precision"])
    if not scores:
        raise ValueError("the sweep has no thresholds to choose from")
    if len({len(v) for v in scores.values()}) > 1:
        raise ValueError("the sweeps differ in their thresholds")
    mean = {t: float(np.mean(v)) for t, v in scores.items()}
    best = max(mean.values())
    return max(t for t, r in mean.items() if r >= best - tolerance)
