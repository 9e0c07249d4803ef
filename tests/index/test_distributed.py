"""Distributed builds: two jax.distributed processes build shards that search as one index."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
from support.cli import run_cli
from support.reference import RTOL, relative_error
from support.tiny_index import FP32, assert_same_hits, corpus, jsonl, sharded_build

from ner_jax.index.encoder import EncoderMismatch
from ner_jax.index.retriever import Hit, Retriever
from ner_jax.index.sharded import (
    SHARDS,
    ShardedVectorIndex,
    open_sharded,
    shard_name,
    write_shards_manifest,
)
from ner_jax.index.vectors import ExactIndex

QUERIES = ("castle", "programming language", "protein", "football club")


def untwinned(hits: list[Hit]) -> list[Hit]:
    return [dataclasses.replace(h, doc_id="d07") if h.doc_id == "twin" else h for h in hits]


def test_two_processes_build_shards_that_search_as_the_single_index(sharded_index):
    root, _, _, runs = sharded_index
    assert "shard-00001-of-00002: " in runs[1][1] and "2 shards, 16 documents" in runs[0][1]
    manifest = json.loads((root / "sharded" / SHARDS).read_text())
    assert [s["directory"] for s in manifest["shards"]] == [shard_name(k, 2) for k in (0, 1)]
    assert [s["documents"] for s in manifest["shards"]] == [8, 8]
    single_manifest = json.loads((root / "single" / "manifest.json").read_text())
    assert sum(s["mentions"] for s in manifest["shards"]) == single_manifest["mentions"]
    assert manifest["documents"] == single_manifest["documents"] == 16

    single, sharded = Retriever.load(root / "single"), Retriever.load(root / "sharded")
    assert sharded.store.counts() == single.store.counts()
    assert isinstance(sharded.index, ShardedVectorIndex) and isinstance(single.index, ExactIndex)
    # The shards' vectors, in order, are the single index's.
    parts = [np.asarray(s.vectors) for s in sharded.index.shards]
    # Shards are batched in other shapes than the whole corpus, which round differently: the
    # fp32 rule (1e-5 of the largest value), not bit for bit.
    assert relative_error(np.concatenate(parts), np.asarray(single.index.vectors)) <= RTOL
    # d07 and its twin have equal vectors, but BLAS may round a dot product differently for
    # another number of rows (a shard's), so which of the two comes first can differ.
    doc_of = single.store.mentions(range(len(single.index)))
    twin_rows = dict(zip(*([r for r in doc_of if doc_of[r][0] == d] for d in (8, 7)), strict=True))
    same = np.vectorize(lambda row: twin_rows.get(int(row), int(row)))
    for query in QUERIES:
        for k in (1, 3, 16):
            got, want = sharded.search(query, k), single.search(query, k)
            assert_same_hits(untwinned(got), untwinned(want), FP32)
        vector = single.encoder.queries([query])
        for k in (1, 5, len(single.index), len(single.index) + 3):
            got, want = sharded.index.search(vector, k), single.index.search(vector, k)
            np.testing.assert_array_equal(same(got[1]), same(want[1]))
            np.testing.assert_allclose(got[0], want[0], atol=FP32)
    twins = {h.doc_id: h for h in sharded.search("castle", 16) if h.doc_id in ("d07", "twin")}
    assert twins["d07"].score == pytest.approx(twins["twin"].score, abs=1e-6)
    single.close()
    sharded.close()


def test_shards_of_another_encoder_or_build_are_refused(sharded_index, tmp_path):
    root, model, head, _ = sharded_index
    copy = tmp_path / "sharded"
    shutil.copytree(root / "sharded", copy)
    record_path = copy / shard_name(1, 2) / "encoder.json"
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "head_sha256": "0" * 64}))
    with pytest.raises(EncoderMismatch, match=f"shard {copy / shard_name(1, 2)} was built with"):
        Retriever.load(copy)
    with pytest.raises(
        EncoderMismatch, match=f"shard {shard_name(1, 2)} .* shard {shard_name(0, 2)}"
    ):
        write_shards_manifest(copy, [shard_name(k, 2) for k in (0, 1)])
    manifest_path = copy / shard_name(0, 2) / "manifest.json"
    rebuilt = {**json.loads(manifest_path.read_text()), "generation": "another build"}
    manifest_path.write_text(json.dumps(rebuilt))
    with pytest.raises(ValueError, match=f"shard {copy / shard_name(0, 2)} is not the one"):
        open_sharded(copy)
    added = run_cli("index", "--input", root / "docs.jsonl", "--index", root / "sharded", "--add")
    assert added.returncode == 1 and "is a sharded index: --add is not supported" in added.stderr


def test_a_failing_shard_fails_every_process_naming_it(sharded_index, tmp_path):
    root, model, head, _ = sharded_index
    records = corpus(4, 1)
    records[2]["mentions"] = records[3]["mentions"] = []  # shard 1 has nothing to index
    inputs = jsonl(tmp_path / "docs.jsonl", records)
    runs = sharded_build(inputs, tmp_path / "index", model, head)
    for code, _, stderr in runs:
        assert code == 1, stderr[-3000:]
        assert "built: shard-00001-of-00002: ValueError: no mentions to index" in stderr
    assert not (tmp_path / "index" / SHARDS).exists()


def test_processes_with_two_devices_each_build_the_same_index(sharded_index, tmp_path):
    """As the CLI runs on a 2-core machine: each process splits its batches over its own two
    devices (jax.distributed wants those inputs placed before jit). Other batch shapes round
    differently, so vectors agree to the fp32 rule, not bit for bit."""
    root, model, head, _ = sharded_index
    two = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    runs = sharded_build(root / "docs.jsonl", tmp_path / "sharded", model, head, env=two)
    for code, _, stderr in runs:
        assert code == 0, stderr[-3000:]
    got = Retriever.load(tmp_path / "sharded")
    single = Retriever.load(root / "single")
    vectors = np.concatenate([np.asarray(s.vectors) for s in got.index.shards])
    assert relative_error(vectors, np.asarray(single.index.vectors)) <= RTOL
    got.close()
    single.close()
