"""Head systems reranked by the model's verdict, as `search` reranks its first hits."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from ner_jax.data import NO_MENTION, Benchmark, best_mention_scores
from ner_jax.verdict import (
    VERDICT_DEPTH,
    VERDICT_MENTIONS,
    Candidate,
    Verdict,
    combined_order,
    verdicts,
)

VERDICT = "+verdict"  # a reranked system is NAME+verdict, or NAME+verdict@W for a weight W


@dataclasses.dataclass(frozen=True)
class JudgedMentions:
    """What a verdict system reads of its head system: every mention's cosine with each query
    (a callable giving [Q, M]), the document of each mention [M] and its span [M, 2]."""

    similarities: Callable[[], np.ndarray]
    docs: np.ndarray
    spans: np.ndarray


def verdict_systems(
    verdict: Callable[[], Verdict],
    bench: Benchmark,
    judged: dict[str, JudgedMentions],
    weights: Sequence[float],
) -> dict[str, Callable[[], np.ndarray]]:
    """`NAME+verdict@W` per head system NAME and weight W (`NAME+verdict` for a single
    weight): each query's first VERDICT_DEPTH documents reordered by the head's score and the
    verdict (verdict.combined_order) and kept above the rest. The verdicts are read once per
    system, whatever the number of weights."""
    systems = {}
    for name, mentions in judged.items():
        first = functools.cache(functools.partial(_first_judged, verdict, bench, mentions))
        for weight in map(float, weights):
            suffix = VERDICT if len(weights) == 1 else f"{VERDICT}@{weight:g}"
            systems[name + suffix] = functools.partial(_reranked, first, weight)
    return systems


def _first_judged(
    verdict: Callable[[], Verdict], bench: Benchmark, mentions: JudgedMentions
) -> tuple[np.ndarray, list[tuple[np.ndarray, list[float], np.ndarray]]]:
    """[Q, D] the head's scores, and per query its first documents [K], their scores and
    their verdicts [K] on their VERDICT_MENTIONS best mentions, as `search` judges them."""
    similarities = mentions.similarities()  # [Q, M]
    scores = best_mention_scores(similarities, mentions.docs, len(bench.documents))  # [Q, D]
    rows_of: dict[int, np.ndarray] = {}
    for row, doc in enumerate(mentions.docs):
        rows_of.setdefault(int(doc), []).append(row)
    judged = []
    for q, query in enumerate(tqdm(bench.queries, unit="query", desc="verdicts")):
        first = np.argsort(-scores[q], kind="stable")[:VERDICT_DEPTH]
        first = first[scores[q, first] > NO_MENTION]
        candidates = []
        for d in first:
            rows = np.asarray(rows_of[int(d)])
            best = rows[np.argsort(-similarities[q, rows], kind="stable")]
            spans = [tuple(map(int, mentions.spans[r])) for r in best]
            candidates.append(Candidate(bench.documents[d].text, spans, float(scores[q, d])))
        found = verdicts(verdict(), query.text, candidates, VERDICT_MENTIONS)
        judged.append((first, [c.score for c in candidates], found))
    return scores, judged


def _reranked(first: Callable, weight: float) -> np.ndarray:
    scores, judged = first()
    out = scores.copy()
    for q, (docs, head_scores, found) in enumerate(judged):
        order = combined_order(head_scores, found, weight)
        top = np.max(out[q], initial=0.0) + 1.0
        out[q, docs[order]] = top + np.arange(len(order), 0, -1)  # above every other document
    return out
