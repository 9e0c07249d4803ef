"""Retriever: a batch of descriptions gives each one's own hits; add grows the open index."""

from __future__ import annotations

import shutil

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
