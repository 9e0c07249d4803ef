"""`ner-jax index` builds an index that `ner-jax search` then shows, as text and as JSON."""

from __future__ import annotations

import json

import pytest
from support.cli import run_cli

from ner_jax.index.retriever import Retriever


def test_command_line_index_and_search(corpus_index, tmp_path):
    root, model, heads, _, _ = corpus_index
    index = tmp_path / "index"
    built = run_cli(
        "index",
        "--input",
        root / "first.jsonl",
        "--index",
        index,
        "--model",
        model,
        "--head",
        heads[0],
    )
    assert built.returncode == 0, built.stderr[-2000:]
    assert "6 documents, 11 mentions" in built.stdout
    shown = run_cli("search", "--index", index, "--k", "2", "castle")
    assert shown.returncode == 0, shown.stderr[-2000:]
    expected = [h.as_dict() for h in Retriever.load(root / "index").search("castle", 2)]
    best = expected[0]["mentions"][0]
    assert f"{expected[0]['doc_id']}" in shown.stdout
    text = expected[0]["text"]
    assert f"{text[: best['start']]}[{best['text']}]{text[best['end'] :]}" in shown.stdout
    unjudged = run_cli("search", "--index", index, "--json", "castle", "--rerank", "0")
    assert unjudged.returncode == 0, unjudged.stderr[-2000:]
    assert {json.loads(line)["verdict"] for line in unjudged.stdout.splitlines()} == {None}
    printed = run_cli("search", "--index", index, "--json", "castle", "--k", "2")
    assert printed.returncode == 0, printed.stderr[-2000:]
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert [line["doc_id"] for line in lines] == [e["doc_id"] for e in expected]
    for line, want in zip(lines, expected, strict=True):
        assert line.keys() == {"doc_id", "score", "text", "mentions", "verdict"}
        assert line["verdict"] == pytest.approx(want["verdict"], abs=1e-4)
        assert line["mentions"][0].keys() == {"start", "end", "text", "score"}
        assert line["score"] == pytest.approx(want["score"], abs=1e-6)
    refused = run_cli("search", "--index", index, "--head", heads[1], "castle")
    assert refused.returncode == 1 and "ner-jax search: index" in refused.stderr
    assert "but the encoder asked for is" in refused.stderr and "Traceback" not in refused.stderr


def test_an_out_of_range_detector_threshold_is_refused(corpus_index, tmp_path):
    root, model, heads, _, _ = corpus_index
    args = ["index", "--input", root / "first.jsonl", "--model", model, "--head", heads[0]]
    refused = run_cli(*args, "--index", tmp_path / "index", "--detector_threshold", "1.5")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "ner-jax index: detector_threshold must be in [0, 1], got 1.5" in refused.stderr
    assert not (tmp_path / "index").exists()
    # An index's additions run at its recorded operating point: no other can be asked for.
    added = run_cli(*args, "--index", root / "index", "--add", "--detector_threshold", "0.5")
    assert added.returncode == 1
    assert "--detector_threshold: with --add the index's own settings are used" in added.stderr
