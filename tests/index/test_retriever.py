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
    with Retriever.load(root / "index", rerank=0) as retriever:  # the head's own order
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


def test_rerank_reorders_the_first_hits_by_the_models_verdict(corpus_index):
    from ner_jax.verdict import Candidate, Verdict, reranked

    root, model = corpus_index[0], corpus_index[1]
    descriptions = ["castle", "city", "protein", "programming language", "scientist"]
    with Retriever.load(root / "index", rerank=0) as plain:
        bases = plain.search_many(descriptions, 5)
    with Retriever.load(root / "index", rerank=3) as judging:
        judged = judging.search_many(descriptions, 5)
        with pytest.raises(ValueError, match="rerank must be 0"):
            Retriever(judging.directory, judging.encoder, judging.index, judging.store, -1)
    verdict = Verdict.load(model, "float32")
    orders = []
    for description, base, hits in zip(descriptions, bases, judged, strict=True):
        assert len(base) == len(hits) == 5 and all(h.verdict is None for h in base)
        first = base[:3]
        candidates = [
            Candidate(h.text, [(m.start, m.end) for m in h.mentions], h.score) for h in first
        ]
        order, found = reranked(verdict, description, candidates)
        assert [h.doc_id for h in hits[:3]] == [first[i].doc_id for i in order]
        assert [h.verdict for h in hits[:3]] == pytest.approx([float(found[i]) for i in order])
        for hit, i in zip(hits[:3], order, strict=True):
            assert hit.mentions == first[i].mentions  # the head's mention is shown first
        assert [h.doc_id for h in hits[3:]] == [h.doc_id for h in base[3:]]
        assert all(h.verdict is None for h in hits[3:])
        assert hits[0].as_dict()["verdict"] == hits[0].verdict
        orders.append(order.tolist())
    assert any(order != [0, 1, 2] for order in orders)  # the verdict did reorder some hits
