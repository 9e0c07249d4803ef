"""Rankings from document scores, and R-Precision / P@k, with seeded tie-breaking."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NO_MENTION = -np.inf  # score of a document a mention-based system cannot retrieve


def rank(scores: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """[Q, D] scores -> per query, document indices best first.

    Ties are broken by one fixed seeded shuffle of the documents (never by file order, which
    would favour whatever a corpus lists first); documents scored NO_MENTION are left out.
    """
    scores = np.atleast_2d(scores)
    shuffle = np.random.default_rng(seed).permutation(scores.shape[1])
    rankings = []
    for row in scores:
        shuffled = row[shuffle]
        order = shuffle[np.argsort(-shuffled, kind="stable")]
        rankings.append(order[row[order] != NO_MENTION])
    return rankings


def r_precision(ranking: Sequence[int], relevant: Sequence[int]) -> float:
    """Fraction of the top R that is relevant, R = number of relevant documents."""
    r = len(relevant)
    if r == 0:
        raise ValueError("R-Precision is undefined for a query without relevant documents")
    return len(set(np.asarray(ranking[:r]).tolist()) & set(relevant)) / r


def precision_at(ranking: Sequence[int], relevant: Sequence[int], k: int = 10) -> float:
    """Fraction of the top k that is relevant (missing places of a short ranking count as wrong)."""
    return len(set(np.asarray(ranking[:k]).tolist()) & set(relevant)) / k


def best_mention_scores(
    similarities: np.ndarray, mention_docs: np.ndarray, num_docs: int
) -> np.ndarray:
    """[Q, M] query-mention similarities -> [Q, D] document scores: each document's best mention,
    NO_MENTION for documents without one."""
    scores = np.full((similarities.shape[0], num_docs), NO_MENTION, np.float64)
    for q in range(similarities.shape[0]):
        np.maximum.at(scores[q], mention_docs, similarities[q])
    return scores


def evaluate_rankings(
    rankings: Sequence[np.ndarray], relevant: Sequence[Sequence[int]], k: int = 10
) -> dict:
    """Per-query and macro-averaged R-Precision and P@k."""
    per_query_rp = [r_precision(r, rel) for r, rel in zip(rankings, relevant, strict=True)]
    per_query_pk = [precision_at(r, rel, k) for r, rel in zip(rankings, relevant, strict=True)]
    return {
        "r_precision": float(np.mean(per_query_rp)),
        f"p_at_{k}": float(np.mean(per_query_pk)),
        "per_query_r_precision": per_query_rp,
        f"per_query_p_at_{k}": per_query_pk,
    }
