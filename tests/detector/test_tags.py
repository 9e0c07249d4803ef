"""Token tags: from spans and back, and Viterbi decoding that never starts with I."""

from __future__ import annotations

import numpy as np

from ner_jax.detector.tags import B, I, O, decode, span_scores, tag_spans, token_tags, viterbi


def test_tags_follow_token_characters_and_decode_back():
    text = "We met  Ada Lovelace in (London)."
    # Subword-style offsets: a token owns the space before it; "(" and ")." are tokens.
    offsets = np.array(
        [[0, 0], [0, 2], [2, 6], [6, 11], [11, 20], [20, 23], [23, 25], [25, 31], [31, 33]]
    )
    spans = [(8, 20), (25, 31)]
    tags = token_tags(text, offsets, spans)
    assert tags.tolist() == [O, O, O, B, I, O, O, B, O]
    assert tag_spans(text, offsets, tags) == spans
    log_probs = np.log(np.eye(3)[tags] * 0.98 + 0.01)
    assert decode(text, offsets, log_probs) == spans


def test_viterbi_never_starts_a_mention_with_I():
    # Token 1 prefers I after an O-leaning token 0: the best allowed path is B I or O O.
    log_probs = np.log(np.array([[0.6, 0.4, 0.0001], [0.1, 0.2, 0.7], [0.9, 0.05, 0.05]]))
    path = viterbi(log_probs, np.ones(3, bool))
    assert path.tolist() == [B, I, O]  # 0.4 * 0.7 beats 0.6 * 0.2
    assert viterbi(log_probs, np.array([False, True, True])).tolist() == [O, B, O]
    scores = span_scores([[(0, 2), (3, 4)], []], [[(0, 2)], [(5, 6)]])
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["f1"] == 0.5
