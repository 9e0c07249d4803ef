"""Ranking metrics on hand-built rankings, and seeded tie-breaking."""

from __future__ import annotations

import numpy as np
import pytest

from ner_jax.data.metrics import (
    NO_MENTION,
    best_mention_scores,
    evaluate_rankings,
    precision_at,
    r_precision,
    rank,
)


def test_r_precision_and_precision_at_k_by_hand():
    ranking = [4, 2, 7, 1, 9, 0]
    assert r_precision(ranking, [2, 9, 5]) == pytest.approx(1 / 3)  # top 3 = 4, 2, 7
    assert r_precision(ranking, [4, 2]) == 1.0
    assert precision_at(ranking, [2, 9, 5], k=10) == pytest.approx(2 / 10)  # short ranking
    assert precision_at(ranking, [4, 2, 7], k=2) == 1.0
    with pytest.raises(ValueError, match="undefined"):
        r_precision(ranking, [])


def test_evaluate_rankings_macro_averages():
    report = evaluate_rankings([[0, 1, 2], [2, 1, 0]], [[0], [0, 1]], k=2)
    assert report["per_query_r_precision"] == [1.0, 0.5]
    assert report["r_precision"] == pytest.approx(0.75)
    assert report["p_at_2"] == pytest.approx((0.5 + 0.5) / 2)


def test_rank_orders_by_score_and_drops_unreachable_documents():
    scores = np.array([[0.1, 0.9, NO_MENTION, 0.5]])
    assert rank(scores)[0].tolist() == [1, 3, 0]


def test_ties_are_broken_by_a_seeded_shuffle_not_by_position():
    scores = np.zeros((1, 1000))
    first = rank(scores, seed=0)[0]
    assert first.tolist() == rank(scores, seed=0)[0].tolist()  # reproducible
    assert first.tolist() != list(range(1000))  # not file order
    assert first.tolist() != rank(scores, seed=1)[0].tolist()
    assert sorted(first.tolist()) == list(range(1000))


def test_best_mention_scores_take_each_documents_maximum():
    similarities = np.array([[0.2, 0.7, 0.1, 0.4], [0.9, 0.0, 0.3, 0.2]])
    docs = np.array([0, 0, 2, 2])  # document 1 has no mention
    scores = best_mention_scores(similarities, docs, num_docs=3)
    assert scores.tolist() == [[0.7, NO_MENTION, 0.4], [0.9, NO_MENTION, 0.3]]
