"""Index building end to end on a tiny model: build, search, add, refusals, resume after a kill."""

from __future__ import annotations

import collections
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.killed_build import KILLED_EXIT_CODE
from support.reference_head import project
from support.tiny_index import LATER, assert_same_hits, jsonl
from support.tiny_models import WORDS, named_sentences, tiny_detector

from ner_jax.features.inputs import mention_inputs, query_inputs
from ner_jax.index.build import IndexConfig, add_to_index, build_corpus_index, read_meta
from ner_jax.index.documents import Document, read_documents
from ner_jax.index.encoder import EncoderMismatch
from ner_jax.index.retriever import Retriever
from ner_jax.index.store import Store
from ner_jax.index.vectors import load_index
from ner_jax.model.tokenizer import Tokenizer


def by_hand(retriever, documents, query):
    """Best-mention cosine per document, from head outputs computed here in numpy."""
    head, extractor = retriever.encoder.head, retriever.encoder.extractor
    texts, spans = [d.text for d in documents], [list(d.spans) for d in documents]
    inputs, kept = mention_inputs(extractor, texts, spans, head.spec)
    assert kept.all()
    queries = query_inputs(extractor, [query], head.spec, " {}")
    sims = project(head.params, queries)[0] @ project(head.params, inputs).T
    docs = [d for d, s in enumerate(spans) for _ in s]
    best = {}
    for d, s in zip(docs, sims, strict=True):
        best[documents[d].id] = max(best.get(documents[d].id, -np.inf), float(s))
    return best


def test_build_search_add_search(corpus_index, tmp_path):
    root, model, heads, _, summary = corpus_index
    assert (summary["documents"], summary["mentions"], summary["dropped_mentions"]) == (6, 11, 0)
    first = read_documents([root / "first.jsonl"])
    retriever = Retriever.load(root / "index", rerank=0)  # the head's own order
    hits = retriever.search("castle", k=10)
    expected = by_hand(retriever, first, "castle")
    assert [h.doc_id for h in hits] == sorted(expected, key=lambda d: -expected[d])
    for hit in hits:
        assert hit.score == pytest.approx(expected[hit.doc_id], abs=1e-5)
        assert hit.mentions[0].score == hit.score
        assert [m.score for m in hit.mentions] == sorted(
            (m.score for m in hit.mentions), reverse=True
        )
        assert all(hit.text[m.start : m.end] == m.text for m in hit.mentions)
    assert "a6" not in {h.doc_id for h in hits}  # no mentions, never retrieved
    retriever.close()

    grown = tmp_path / "index"
    shutil.copytree(root / "index", grown)
    later = read_documents([jsonl(tmp_path / "later.jsonl", LATER)])
    added = add_to_index(later, grown, progress=False)
    assert (added["documents"], added["mentions"], added["added_mentions"]) == (8, 15, 4)
    again = Retriever.load(grown)
    new_hits = {h.doc_id: h for h in again.search("castle", k=10)}
    assert {"b1", "b2"} <= set(new_hits)
    for hit in hits:  # the old documents score and show as before
        assert_same_hits([new_hits[hit.doc_id]], [hit])
    expected = by_hand(again, first + later, "castle")
    assert {d: h.score for d, h in new_hits.items()} == pytest.approx(expected, abs=1e-5)
    old, new = load_index(root / "index" / "vectors"), load_index(grown / "vectors")
    np.testing.assert_array_equal(np.asarray(new.vectors)[: len(old)], np.asarray(old.vectors))
    again.close()
    with pytest.raises(ValueError, match="already in the index or repeated: 'b1'"):
        add_to_index(later[:1], grown, progress=False)


def test_queries_and_additions_from_another_encoder_are_refused(corpus_index, tmp_path):
    root, model, heads, config, _ = corpus_index
    with pytest.raises(EncoderMismatch, match="built with model .* but the encoder asked for") as e:
        Retriever.load(root / "index", head=heads[1])
    assert heads[1] in str(e.value) and model in str(e.value)
    with pytest.raises(EncoderMismatch, match="model 'smollm2-135m'"):
        Retriever.load(root / "index", model="smollm2-135m")
    with pytest.raises(EncoderMismatch):
        add_to_index(
            read_documents([jsonl(tmp_path / "l.jsonl", LATER)]),
            root / "index",
            head=heads[1],
            progress=False,
        )
    # The recorded head file changed since the build: refused too, not silently used.
    moved = shutil.copy(heads[0], tmp_path / "moved.safetensors")
    shutil.copy(heads[0].replace(".safetensors", ".json"), tmp_path / "moved.json")
    docs = read_documents([root / "first.jsonl"])[:2]
    index = tmp_path / "index"
    build_corpus_index(docs, index, IndexConfig(model=model, head=moved), progress=False)
    shutil.copy(heads[1], moved)
    with pytest.raises(EncoderMismatch, match="its head .* now has sha256"):
        Retriever.load(index)


def test_a_killed_build_resumes_without_loss_or_duplicates(corpus_index, tmp_path):
    root, model, heads, config, _ = corpus_index
    rng = random.Random(0)
    nouns = WORDS[21:47]
    records = []
    for i in range(9):
        words = [rng.choice(nouns) for _ in range(3 + i % 3)]
        text = " and ".join(words)
        records.append({"id": f"k{i}", "text": text, "mentions": [[w, "x"] for w in words]})
    documents = read_documents([jsonl(tmp_path / "docs.jsonl", records)])
    index = tmp_path / "index"
    build_corpus_index(documents[:2], index, config, progress=False)  # the previous index
    script = Path(__file__).resolve().parents[1] / "support" / "killed_build.py"
    args = [script, tmp_path / "docs.jsonl", index, model, heads[0], 2]  # killed after 2 batches
    killed = subprocess.run([sys.executable, *map(str, args)], capture_output=True)
    assert killed.returncode == KILLED_EXIT_CODE == 99, killed.stderr.decode()[-2000:]
    work = tmp_path / ".index.work"
    assert sorted(p.name for p in work.glob("batch-*")) == ["batch-000000.npz", "batch-000001.npz"]
    assert read_meta(index)[1]["documents"] == 2  # the previous index is intact
    resumed = build_corpus_index(documents, index, config, progress=False)
    assert resumed["batches"] == {"encoded": 3, "reused": 2} and not work.exists()
    reference = build_corpus_index(documents, tmp_path / "reference", config, progress=False)
    assert resumed["mentions"] == reference["mentions"] == sum(len(d.spans) for d in documents)
    rows = [
        Store(p / "store.sqlite").db.execute("SELECT * FROM mentions").fetchall()
        for p in (index, tmp_path / "reference")
    ]
    assert rows[0] == rows[1] and len(rows[0]) == len(set(r[1:4] for r in rows[0]))
    vectors = [
        np.asarray(load_index(p / "vectors").vectors) for p in (index, tmp_path / "reference")
    ]
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)
    a, b = Retriever.load(index), Retriever.load(tmp_path / "reference")
    assert_same_hits(a.search("castle", 5), b.search("castle", 5))


def test_each_document_is_tokenised_once_when_indexed(corpus_index, tmp_path, monkeypatch):
    """Windows are planned on a document's tokens; a window that is the whole document is read
    from them, whether its spans are given or detected."""
    root, model, heads, _, _ = corpus_index
    detector = tiny_detector(tmp_path / "names", model, steps=100)
    given = read_documents([root / "first.jsonl"])
    plain = [Document(f"p{i}", t, None) for i, t in enumerate(named_sentences(6, 3)[0])]
    tokenised = collections.Counter()
    encode_batch = Tokenizer.encode_batch

    def counting(self, texts):
        tokenised.update(texts)
        return encode_batch(self, texts)

    monkeypatch.setattr(Tokenizer, "encode_batch", counting)
    config = IndexConfig(model=model, head=heads[0], detector=str(detector), batch_docs=4)
    build_corpus_index(given + plain, tmp_path / "index", config, progress=False)
    documents = collections.Counter(d.text for d in given + plain)
    assert {text: tokenised[text] for text in documents} == documents


def test_a_head_with_a_context_part_indexes_and_searches_as_evaluation_scores(
    corpus_index, tmp_path
):
    """A head with a context part (head.add_context) builds an index of its wider vectors,
    and search ranks documents by best mention, context part included, exactly as evaluation's
    BestMention does from the same inputs."""
    from ner_jax.data import NO_MENTION, best_mention_scores
    from ner_jax.features import query_readings
    from ner_jax.head import add_context, load_head, save_head

    root, model, heads, config, _ = corpus_index
    head = load_head(heads[0])
    width = head.spec.context_width(Retriever.load(root / "index").encoder.extractor.model.config)
    means = np.random.default_rng(0).normal(size=(40, width)).astype(np.float32)
    fused = add_context(head, means, 0.5, 3, {"files": ["random"]})
    path = str(save_head(tmp_path / "context.safetensors", fused.params, fused.record))
    first = read_documents([root / "first.jsonl"])
    build_corpus_index(first, tmp_path / "index", IndexConfig(model=model, head=path), False)
    with Retriever.load(tmp_path / "index", rerank=0) as retriever:  # the head's order
        assert retriever.encoder.record.dim == head.out_width + 3
        hits = retriever.search("castle in edinburgh", k=10)
        extractor = retriever.encoder.extractor
    spans = [list(d.spans) for d in first]
    inputs, kept = mention_inputs(extractor, [d.text for d in first], spans, fused.spec)
    docs = np.array([d for d, s in enumerate(spans) for _ in s])
    readings = query_readings(extractor, ["castle in edinburgh"], fused.spec, " {}")
    sims = fused.query_vectors(readings) @ fused.project(inputs[kept]).T
    best = best_mention_scores(sims, docs[kept], len(first))[0]
    expected = [first[d].id for d in np.argsort(-best, kind="stable") if best[d] > NO_MENTION]
    assert [h.doc_id for h in hits] == expected
    assert [h.score for h in hits] == pytest.approx(
        sorted(best[best > NO_MENTION], reverse=True), abs=1e-5
    )
