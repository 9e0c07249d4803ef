"""retrieval_score: the selection metric on perfect and wrong vectors."""

from __future__ import annotations

import numpy as np
from support.toy_mentions import toy_mentions

from ner_jax.head.mentions import retrieval_score


def test_retrieval_score_is_one_for_perfect_vectors():
    mentions = toy_mentions()
    onehot = np.eye(6, dtype=np.float32)
    assert retrieval_score(onehot[mentions.types], onehot, mentions) == 1.0
    assert retrieval_score(onehot[(mentions.types + 1) % 6], onehot, mentions) == 0.0
