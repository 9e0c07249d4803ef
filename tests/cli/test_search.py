"""`ner-jax search` on a sharded index: the single index's hits, as JSON."""

from __future__ import annotations

import json

import pytest
from support.cli import run_cli
from support.tiny_index import FP32

from ner_jax.index.retriever import Retriever


def test_search_command_on_a_sharded_index(sharded_index):
    root = sharded_index[0]
    shown = run_cli("search", "--index", root / "sharded", "--json", "--k", "4", "protein")
    assert shown.returncode == 0, shown.stderr[-2000:]
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    expected = [h.as_dict() for h in Retriever.load(root / "single").search("protein", 4)]
    assert [line["doc_id"] for line in lines] == [e["doc_id"] for e in expected]
    for line, want in zip(lines, expected, strict=True):
        assert line["score"] == pytest.approx(want["score"], abs=FP32)
        assert [m["text"] for m in line["mentions"]] == [m["text"] for m in want["mentions"]]
