"""Rerank a description's first hits by the decoder's verdict on "<mention> is a <description>."

The head ranks documents by a mention vector read mid-depth, which carries the mention's type
well and an attribute ("in Scotland", "Italian") poorly, though the model itself often knows it:
gemma3-270m completes "Eilean Donan is a castle in" with Scotland rather than Wales, England or
Germany. Reading the whole model's log-probability of the description after the mention, in its
document's words, puts that knowledge into the ranking of the first hits (docs/head.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ner_jax.verdict.scorer import Verdict

# How many first hits are judged, their mentions judged each (best first: the hit's own order),
# and the verdict's weight beside the head's score; chosen on half of the description set's
# compositional descriptions (experiments/verdict_choice.py, docs/head.md).
VERDICT_DEPTH = 30
VERDICT_MENTIONS = 2
VERDICT_WEIGHT = 3.0
WINDOW = 600  # characters of a long document kept on each side of the mention judged


class Candidate(NamedTuple):
    text: str  # the document's text
    mentions: list[tuple[int, int]]  # character spans to judge, best first
    score: float  # the head's score


def statement(text: str, start: int, end: int, description: str) -> tuple[str, str]:
    """(prefix, continuation): the mention's text, the mention and "is"; " a <description>."."""
    left = max(0, start - WINDOW)
    right = min(len(text), end + WINDOW)
    if left > 0:  # cut long documents at a space, not inside a word
        left = text.find(" ", left, start) + 1 or left
    if right < len(text):
        cut = text.rfind(" ", end, right)
        right = cut if cut >= 0 else right
    description = " ".join(description.split())
    article = "an" if description[:1].lower() in "aeiou" else "a"
    return f"{text[left:right]} {text[start:end]} is", f" {article} {description}."


def verdicts(
    verdict: Verdict, description: str, candidates: Sequence[Candidate], mentions: int
) -> np.ndarray:
    """[N] each candidate's best log-probability of the description over its first
    `mentions` mentions."""
    owners, prefixes, continuations = [], [], []
    for c, candidate in enumerate(candidates):
        for start, end in candidate.mentions[:mentions]:
            prefix, continuation = statement(candidate.text, start, end, description)
            owners.append(c)
            prefixes.append(prefix)
            continuations.append(continuation)
    best = np.full(len(candidates), -np.inf, np.float32)
    if owners:
        np.maximum.at(best, np.array(owners), verdict.log_probs(prefixes, continuations))
    return best


def reranked(
    verdict: Verdict,
    description: str,
    candidates: Sequence[Candidate],
    weight: float = VERDICT_WEIGHT,
    mentions: int = VERDICT_MENTIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """(order of the candidates, best first; their verdicts)."""
    judged = verdicts(verdict, description, candidates, mentions)
    return combined_order([c.score for c in candidates], judged, weight), judged


def combined_order(scores: Sequence[float], judged: np.ndarray, weight: float) -> np.ndarray:
    """Candidates best first by the head's score plus `weight` times the verdict, both
    standardised over the candidates (a candidate with no mention judged gets the lowest)."""
    if len(judged) == 0:
        return np.zeros(0, np.int64)
    usable = np.isfinite(judged)
    floor = judged[usable].min() - 1.0 if usable.any() else 0.0
    judged = np.where(usable, judged, floor).astype(np.float64)
    combined = _standard(np.asarray(scores, np.float64)) + weight * _standard(judged)
    return np.argsort(-combined, kind="stable")


def _standard(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)
