"""A head system reranked by the model's verdict ranks as `search` reranks its first hits."""

from __future__ import annotations

import dataclasses
import json
from unittest.mock import ANY

import pytest

from ner_jax.data.benchmark import build_benchmark
from ner_jax.evaluation.config import EvaluateConfig
from ner_jax.evaluation.run import evaluate


def test_a_verdict_system_ranks_as_search_reranks(eval_corpus, tmp_path):
    """`NAME+verdict` reorders each query's first documents by the model's verdict exactly as
    `search` does on an index of the same corpus and head; with weight 0 it is the head."""
    from support.tiny_index import write_head

    from ner_jax.index import IndexConfig, Retriever, build_corpus_index, read_documents

    root, model = eval_corpus
    head = write_head(tmp_path / "head.safetensors", model, 0)
    data = (str(root / "a.txt"), str(root / "b.txt"))
    config = EvaluateConfig(
        data=data, out=str(tmp_path / "out"), systems=("head",), model=model, heads=(head,)
    )
    report = evaluate(dataclasses.replace(config, verdict=("head",), verdict_weights=(0.0, 3.0)))
    systems = report["systems"]
    assert set(systems) == {"head", "head+verdict@0", "head+verdict@3"}
    assert systems["head+verdict@0"] == {**systems["head"], "seconds": ANY}
    with pytest.raises(ValueError, match="not head systems of this run"):
        evaluate(dataclasses.replace(config, verdict=("raw",)))
    bench = build_benchmark(list(data))
    # The benchmark keeps the first of repeated texts; the index gets the same documents.
    first_of = {}
    for document in read_documents(list(data)):
        first_of.setdefault(document.text, document)
    documents = list(first_of.values())
    assert [d.text for d in documents] == [d.text for d in bench.documents]
    build_corpus_index(documents, tmp_path / "index", IndexConfig(model=model, head=head), False)
    text_of = {d.id: d.text for d in bench.documents}
    lines = [json.loads(x) for x in (tmp_path / "out/rankings/head+verdict@3.jsonl").open()]
    plain = [json.loads(x) for x in (tmp_path / "out/rankings/head.jsonl").open()]
    moved = 0
    with Retriever.load(tmp_path / "index", rerank=30) as retriever:
        for line in lines:
            hits = retriever.search(line["query"], k=len(bench.documents))
            searched = [h.text for h in hits]
            ranked = [text_of[i] for i in line["ranking"]][: len(searched)]
            assert ranked == searched
            moved += [text_of[i] for i in plain[lines.index(line)]["ranking"]] != ranked
    assert moved  # the verdict did reorder some query's documents
