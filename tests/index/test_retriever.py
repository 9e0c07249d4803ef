"""Retriever: a batch of descriptions gives each one's own hits; add grows the open index."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from support.tiny_index import FP32, LATER, assert_same_hits, jsonl

from ner_jax.index.documents import read_documents
from ner_jax.index.retriever import Retriever


def test_search_many_is_search_of_each(corpus_index):
    root = corpus_index[0]
    descriptions = ["castle", "programming language", "protein", "castle"]
    with Retriever.load(root / "index") as retriever:
        batched = retriever.search_many(descriptions, [2, 5, 3, 1])
        alone = [retriever.search(d, k) for d, k in zip(descriptions, [2, 5, 3, 1], strict=True)]
        assert [len(h) for h in batched] == [2, 5, 3, 1]
        for got, want in zip(batched, alone, strict=True):
            assert_same_hits(got, want, tolerance=1e-5)  # other batch shapes round differently
        assert retriever.search_many([], 3) == []
        with pytest.raises(ValueError, match="2 descriptions, but 1 values of k"):
            retriever.search_many(["a", "b"], [1])
        with pytest.raises(ValueError, match="empty type description"):
            retriever.search_many(["castle", " "], 3)


def test_add_then_search_finds_the_new_documents(corpus_index, tmp_path):
    root = corpus_index[0]
    shutil.copytree(root / "index", tmp_path / "index")
    later = read_documents([jsonl(tmp_path / "later.jsonl", LATER)])
    with Retriever.load(tmp_path / "index") as retriever:
        summary = retriever.add(later)
        assert (summary["documents"], summary["mentions"]) == (8, 15)
        assert retriever.store.counts() == (8, 15) and len(retriever.index) == 15
        after_add = retriever.search("castle", k=8)
    assert {"b1", "b2"} <= {h.doc_id for h in after_add}
    with Retriever.load(tmp_path / "index") as reopened:  # what was swapped in on disk
        assert_same_hits(reopened.search("castle", k=8), after_add)


def test_search_many_on_a_sharded_index_is_the_single_index(sharded_index):
    root = sharded_index[0]
    descriptions = ["protein", "castle", "language"]
    with Retriever.load(root / "sharded") as sharded, Retriever.load(root / "single") as single:
        for got, want in zip(
            sharded.search_many(descriptions, 4), single.search_many(descriptions, 4), strict=True
        ):
            assert [h.doc_id for h in got] == [h.doc_id for h in want]
            assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=FP32)
        with pytest.raises(ValueError, match="sharded index is not supported"):
            sharded.add([])


def test_a_compositional_description_ranks_by_itself_and_shows_its_kind_first(corpus_index):
    root = corpus_index[0]
    documents = read_documents([root / "first.jsonl"])
    with Retriever.load(root / "index") as retriever:
        encoded = retriever.encoder.documents(documents)
        full, kind = retriever.encoder.queries_and_kinds(["castle in edinburgh"])
        alone, none = retriever.encoder.queries_and_kinds(["castle in edinburgh"], kinds=False)
        assert none is None  # the head phrase is read only when asked for
        np.testing.assert_allclose(alone, full, atol=1e-6)
        hits = retriever.search("castle in edinburgh", k=4)
        plain = retriever.search("castle", k=4)  # no post-modifier: nothing moves
    by_full, by_kind = encoded.vectors @ full[0], encoded.vectors @ kind[0]
    best = {d: by_full[encoded.doc == d].max() for d in set(encoded.doc.tolist())}
    ranked = sorted(best, key=lambda d: -best[d])[:4]
    assert [h.doc_id for h in hits] == [documents[d].id for d in ranked]
    for hit, d in zip(hits, ranked, strict=True):
        assert hit.score == pytest.approx(best[d], abs=1e-5)  # the rank: the whole description
        rows = np.flatnonzero(encoded.doc == d)
        shown = rows[np.argmax(by_kind[rows])]  # the mention of the kind "castle"
        first = hit.mentions[0]
        assert (first.start, first.end) == (encoded.start[shown], encoded.end[shown])
        assert first.score == pytest.approx(by_kind[shown], abs=1e-5)
        rest = [(m.start, m.end) for m in hit.mentions[1:]]
        assert (first.start, first.end) not in rest
        assert sorted(rest) == sorted(
            (encoded.start[r], encoded.end[r]) for r in rows if r != shown
        )
    for hit in plain:
        assert [m.score for m in hit.mentions] == sorted(
            (m.score for m in hit.mentions), reverse=True
        )
        assert hit.score == hit.mentions[0].score
