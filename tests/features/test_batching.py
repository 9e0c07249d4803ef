"""Packing texts into rows: every token read exactly once, into the row it was asked for."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ner_jax.features.batching import PACKED_ROW, SHORTEST_ROW, bucket, pack_rows, plan_batches


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=60))
def test_pack_rows_places_every_text_once_within_its_row(lengths):
    rows = pack_rows(lengths)
    placed = sorted(t for _, texts in rows for t in texts)
    assert placed == list(range(len(lengths)))
    for length, texts in rows:
        assert sum(lengths[t] for t in texts) <= length
        assert length == max(bucket(max(lengths[t] for t in texts), SHORTEST_ROW), PACKED_ROW)
        assert texts == sorted(texts)


def test_short_texts_share_rows():
    rows = pack_rows([40, 40, 40, 100, 20])
    assert rows == [(128, [3, 4]), (128, [0, 1, 2])]  # longest first; 20 fits beside 100


def test_a_lone_short_text_gets_a_short_row():
    """A query is read alone: its row must not be PACKED_ROW tokens of padding."""
    (batch,) = plan_batches([np.arange(3)], [np.array([2])], [np.array([0])], 0, 8192, 2)
    assert batch.tokens.shape == (2, 4)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 200), min_size=1, max_size=30),
    st.integers(1, 3),
    st.sampled_from([64, 1024, 8192]),
)
def test_plan_batches_reads_each_token_into_its_output_row(lengths, devices, budget):
    rng = np.random.default_rng(len(lengths))
    ids = [rng.integers(10, 1000, n).astype(np.int32) for n in lengths]
    cols = [np.sort(rng.choice(n, rng.integers(0, n + 1), replace=False)) for n in lengths]
    first = np.cumsum([0, *map(len, cols)])
    outputs = [np.arange(first[d], first[d + 1]) for d in range(len(ids))]
    read = np.full(first[-1], -1, np.int64)
    texts = 0
    for batch in plan_batches(ids, cols, outputs, 0, budget, devices):
        assert batch.tokens.shape[0] % devices == 0 and batch.tokens.shape == batch.segments.shape
        texts += batch.texts
        filled = batch.mentions >= 0
        tokens = np.take_along_axis(batch.tokens, batch.cols, axis=1)
        assert (read[batch.mentions[filled]] == -1).all()
        read[batch.mentions[filled]] = tokens[filled]
        for row in batch.segments:  # segments 1, 2, ... in order, then padding
            real = row[row > 0]
            assert (np.diff(real) >= 0).all() and (row[len(real) :] == 0).all()
    expected = np.concatenate([i[c] for i, c in zip(ids, cols, strict=True)] + [np.zeros(0)])
    assert texts == len(ids) and (read == expected).all()
