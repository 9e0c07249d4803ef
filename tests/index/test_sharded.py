"""ShardedVectorIndex: merged top-k equals one index's, ties broken by global row id."""

from __future__ import annotations

import numpy as np

from ner_jax.index.sharded import ShardedVectorIndex
from ner_jax.index.vectors import ExactIndex


def test_merge_breaks_ties_by_global_id():
    # Sums of quarters are exact in float32, so equal rows score equally in every shard.
    eye = np.eye(8, dtype=np.float32)
    base = np.stack([eye[0], eye[1], eye[:4].sum(0) / 2, -eye[2], eye[4:].sum(0) / 2])  # [5, 8]
    rows = base[[0, 1, 2, 0, 3, 1, 0, 4, 2, 0]]  # duplicates within and across shards
    cuts = [0, 3, 4, 10]  # shards of 3, 1 and 6 rows
    shards = [ExactIndex(rows[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    sharded, single, queries = ShardedVectorIndex(shards), ExactIndex(rows), base[[0, 2, 4]]
    scores = queries @ rows.T  # [Q, N]
    reference = np.lexsort((np.broadcast_to(np.arange(10), scores.shape), -scores), axis=1)
    for k in range(1, 13):
        got_s, got_i = sharded.search(queries, k)
        want_s, want_i = single.search(queries, k)
        np.testing.assert_array_equal(got_s, want_s)
        assert (got_i[:, 10:] == -1).all() and np.isneginf(got_s[:, 10:]).all()
        for q in range(len(queries)):
            # Where a tie straddles the k-th place, ExactIndex (argpartition) keeps either row.
            top = min(k, 10)
            if k >= 10 or scores[q, reference[q, k - 1]] != scores[q, reference[q, k]]:
                np.testing.assert_array_equal(got_i[q, :top], reference[q, :top])
                np.testing.assert_array_equal(want_i[q, :top], reference[q, :top])
