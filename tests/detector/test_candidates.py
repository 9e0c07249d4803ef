"""Recall-first decoding on hand-built tag probabilities: ends above the operating point, each
with its likeliest start; overlapping candidates; word ends only; span-end recall."""

from __future__ import annotations

import numpy as np
import pytest

from ner_jax.detector.candidates import best_starts, candidate_spans, end_probabilities
from ner_jax.detector.tags import decode, span_scores

TEXT = "The New York Times and Obama spoke"
# Subword-style offsets: a start token, then words owning the space before them; "Obama" is
# two sub-tokens, " Ob" and "ama".
OFFSETS = np.array(
    [[0, 0], [0, 3], [3, 7], [7, 12], [12, 18], [18, 22], [22, 25], [25, 28], [28, 34]]
)
#                    O     B     I                  start token first (never real)
PROBS = np.array(
    [
        [1.0, 0.0, 0.0],  # <bos>
        [0.95, 0.04, 0.01],  # The
        [0.05, 0.9, 0.05],  # New
        [0.1, 0.1, 0.8],  # York: ends "New York" unless Times continues it
        [0.3, 0.05, 0.65],  # Times: an uncertain I
        [0.97, 0.02, 0.01],  # and
        [0.35, 0.6, 0.05],  # Ob: an uncertain B
        [0.3, 0.05, 0.65],  # ama
        [0.98, 0.01, 0.01],  # spoke
    ]
)


def log_probs():
    return np.log(np.clip(PROBS, 1e-9, 1.0))


def test_end_probability_is_inside_times_no_continuation():
    ends = end_probabilities(log_probs()[1:])
    np.testing.assert_allclose(ends[2], 0.9 * (1 - 0.65), rtol=1e-6)  # York, Times may follow
    np.testing.assert_allclose(ends[3], 0.7 * (1 - 0.01), rtol=1e-6)  # Times
    np.testing.assert_allclose(ends[-1], 0.02, rtol=1e-6)  # the last token: nothing follows


def test_best_start_is_the_likeliest_b_then_i_within_the_limit():
    starts = best_starts(log_probs()[1:])
    assert starts[3] == 1  # Times: "New York Times" (0.9 * 0.8 * 0.65) beats "Times" alone
    assert starts[6] == 5  # ama: from Ob
    assert best_starts(log_probs()[1:], max_tokens=2)[3] == 2  # York Times (0.1*0.65 > 0.05)
    # A span starts where a word does: "ama" alone may not start one, so it begins at "Ob"
    # even when "ama" is the likelier B.
    probs = log_probs()[1:].copy()
    probs[6] = np.log([0.1, 0.8, 0.1])
    assert best_starts(probs)[6] == 6
    can_start = np.array([True, True, True, True, True, True, False, True])
    assert best_starts(probs, can_start=can_start)[6] == 5


def test_viterbi_misses_what_recall_first_keeps_and_candidates_overlap():
    viterbi = decode(TEXT, OFFSETS, log_probs())
    assert viterbi == [(4, 18), (23, 28)]  # one path: "New York Times", "Obama"
    found = candidate_spans(TEXT, OFFSETS, log_probs(), threshold=0.25)
    # "New York" (end 0.315) is kept beside "New York Times": nested candidates, two vectors.
    assert found == [(4, 12), (4, 18), (23, 28)]
    assert candidate_spans(TEXT, OFFSETS, log_probs(), threshold=0.5) == [(4, 18), (23, 28)]


def test_only_word_final_tokens_end_a_span_and_zero_keeps_every_word():
    found = candidate_spans(TEXT, OFFSETS, log_probs(), threshold=0.0)
    ends = {e for _, e in found}
    assert 25 not in ends  # " Ob" ends inside "Obama"
    assert ends == {3, 7, 12, 18, 22, 28, 34}  # every word's end
    with pytest.raises(ValueError, match="threshold"):
        candidate_spans(TEXT, OFFSETS, log_probs(), threshold=1.5)


def test_end_recall_counts_gold_mentions_whose_end_was_found():
    scores = span_scores([[(4, 12), (10, 18)]], [[(4, 18), (23, 28)]])
    assert scores["recall"] == 0.0 and scores["end_recall"] == 0.5


def test_a_possessive_s_ends_no_mention_and_an_inner_apostrophe_starts_none():
    # "Beethoven's Ninth and O'Brien": the tagger is sure of every piece (B, I or an end), so
    # only the word rules decide: no span ends at the "s" of "'s", and none starts at "Brien".
    text = "Beethoven's Ninth and O'Brien"
    offsets = np.array(
        [[0, 0], [0, 9], [9, 10], [10, 11], [11, 17], [17, 21], [21, 23], [23, 24], [24, 29]]
    )
    #                         O     B     I
    probs = np.array(
        [
            [1.0, 0.0, 0.0],  # <bos>
            [0.01, 0.98, 0.01],  # Beethoven
            [0.5, 0.0, 0.5],  # '
            [0.01, 0.98, 0.01],  # s: a likely mention by the tags alone
            [0.01, 0.98, 0.01],  # Ninth
            [0.98, 0.01, 0.01],  # and
            [0.01, 0.98, 0.01],  # O
            [0.02, 0.01, 0.97],  # '
            [0.01, 0.98, 0.01],  # Brien: a likelier B than I
        ]
    )
    spans = candidate_spans(text, offsets, np.log(np.clip(probs, 1e-9, 1.0)), threshold=0.0)
    shown = [text[a:b] for a, b in spans]
    assert "Beethoven" in shown and "Ninth" in shown, shown
    assert not [b for _, b in spans if b == 11], shown  # nothing ends at the possessive "s"
    assert not [a for a, _ in spans if a == 24], shown  # nothing starts at "Brien"
    assert "O'Brien" in shown, shown
