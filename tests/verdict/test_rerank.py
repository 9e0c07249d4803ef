"""Statements read by the verdict, and how it reorders a description's first hits."""

from __future__ import annotations

import numpy as np

from ner_jax.verdict import Candidate, combined_order, reranked, statement, verdicts
from ner_jax.verdict.rerank import WINDOW


def test_statement_reads_the_mention_in_its_text():
    text = "Eilean Donan was rebuilt in the twentieth century."
    assert statement(text, 0, 12, "castle in  Scotland ") == (
        f"{text} Eilean Donan is",
        " a castle in Scotland.",
    )
    assert statement(text, 0, 12, "island")[1] == " an island."


def test_statement_keeps_a_window_of_a_long_text_cut_at_spaces():
    words = " ".join(f"w{i:04d}" for i in range(1000))
    start = words.index("w0500")
    prefix, _ = statement(words, start, start + 5, "thing")
    kept, mention = prefix[: -len(" w0500 is")], prefix[-len(" w0500 is") :]
    assert mention == " w0500 is"
    assert kept.split()[0].startswith("w0") and kept.split()[-1].startswith("w0")
    assert all(len(w) == 5 for w in kept.split())  # no word cut in half
    assert "w0500" in kept and WINDOW - 10 <= kept.index("w0500") <= WINDOW + 1
    assert len(kept) <= 2 * WINDOW + 5


def test_combined_order_weighs_the_verdict_against_the_score():
    scores = [0.9, 0.8, 0.7, 0.6]
    judged = np.array([-30.0, -10.0, -20.0, -5.0], np.float32)
    assert combined_order(scores, judged, 0.0).tolist() == [0, 1, 2, 3]
    assert combined_order(scores, judged, 100.0).tolist() == [3, 1, 2, 0]
    # Standardised: scores (0.9..0.6) and verdicts weigh alike at weight 1.
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    expected = np.argsort(-(z(np.array(scores)) + z(judged.astype(float))), kind="stable")
    assert combined_order(scores, judged, 1.0).tolist() == expected.tolist()


def test_a_candidate_without_a_verdict_comes_last_among_equals():
    judged = np.array([-np.inf, -5.0, -5.0], np.float32)
    assert combined_order([0.5, 0.5, 0.5], judged, 1.0).tolist() == [1, 2, 0]
    assert combined_order([], np.zeros(0, np.float32), 1.0).tolist() == []


class GivenLogProbs:
    """A stand-in verdict whose log-probability of each statement is given by its mention."""

    def __init__(self, by_mention: dict[str, float]):
        self.by_mention = by_mention

    def log_probs(self, prefixes, continuations):
        del continuations
        return np.array([self.by_mention[p.split()[-2]] for p in prefixes], np.float32)


def test_verdicts_judge_each_candidates_first_mentions():
    verdict = GivenLogProbs({"stirling": -3.0, "castle": -1.0, "oban": -2.0, "lisbon": -9.0})
    candidates = [
        Candidate("stirling castle", [(0, 8), (9, 15)], 0.9),
        Candidate("oban lisbon", [(0, 4), (5, 11)], 0.8),
        Candidate("lisbon oban", [(0, 6), (7, 11)], 0.6),
    ]
    assert verdicts(verdict, "castle", candidates, mentions=2).tolist() == [-1.0, -2.0, -2.0]
    assert verdicts(verdict, "castle", candidates, mentions=1).tolist() == [-3.0, -2.0, -9.0]
    order, judged = reranked(verdict, "castle", candidates, weight=100.0, mentions=1)
    assert order.tolist() == [1, 0, 2] and judged.tolist() == [-3.0, -2.0, -9.0]
