"""Sharded index: two jax.distributed processes build it; it searches as the single index does."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from cli import run_cli
from reference import RTOL, relative_error
from test_corpus_index import assert_same_hits, jsonl, write_head
from tiny_models import WORDS, tiny_checkpoint

from ner_jax.corpus_encoder import EncoderMismatch
from ner_jax.retriever import Hit, Retriever
from ner_jax.sharded_index import (
    SHARDS,
    ShardedVectorIndex,
    open_sharded,
    shard_name,
    write_shards_manifest,
)
from ner_jax.vector_index import ExactIndex

QUERIES = ("castle", "programming language", "protein", "football club")
# One device per process keeps the children light and every build on the same jit shapes.
ENV = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
TIMEOUT = 240
# Shards are batched in other shapes than the whole corpus, and other shapes round differently:
# cosines of unit vectors agree to the fp32 rule (1e-5), not bit for bit.
FP32 = RTOL


def corpus(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    nouns = WORDS[WORDS.index("castle") : WORDS.index("lovelace") + 1]
    records = []
    for i in range(count):
        words = rng.sample(nouns, 2 + i % 3)
        records.append(
            {"id": f"d{i:02d}", "text": " and ".join(words), "mentions": [[w, "x"] for w in words]}
        )
    return records


def untwinned(hits: list[Hit]) -> list[Hit]:
    return [dataclasses.replace(h, doc_id="d07") if h.doc_id == "twin" else h for h in hits]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(*args, env=ENV) -> subprocess.Popen:
    command = [sys.executable, "-m", "ner_jax.cli", "index", *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each; every process is killed if one runs past TIMEOUT."""
    try:
        outs = [p.communicate(timeout=TIMEOUT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    return [
        (p.returncode, o.decode(), e.decode()) for p, (o, e) in zip(processes, outs, strict=True)
    ]


def sharded_build(inputs, index, model, head, env=ENV) -> list[tuple[int, str, str]]:
    common = ["--input", inputs, "--index", index, "--model", model, "--head", head]
    distributed = ["--num_processes", 2, "--coordinator", f"localhost:{free_port()}"]
    return finish([launch(*common, *distributed, "--process_id", k, env=env) for k in (0, 1)])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded")
    model = str(tiny_checkpoint(root / "model"))
    head = write_head(root / "head.safetensors", model, 0)
    records = corpus(16, 0)
    records[8] = {**records[7], "id": "twin"}  # the same text on both sides of the boundary
    inputs = jsonl(root / "docs.jsonl", records)
    single = launch("--input", inputs, "--index", root / "single", "--model", model, "--head", head)
    runs = sharded_build(inputs, root / "sharded", model, head) + finish([single])
    for code, _, stderr in runs:
        assert code == 0, stderr[-3000:]
    return root, model, head, runs


def test_two_processes_build_shards_that_search_as_the_single_index(built):
    root, _, _, runs = built
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


def test_search_command_on_a_sharded_index(built):
    root = built[0]
    shown = run_cli("search", "--index", root / "sharded", "--json", "--k", "4", "protein")
    assert shown.returncode == 0, shown.stderr[-2000:]
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    expected = [h.as_dict() for h in Retriever.load(root / "single").search("protein", 4)]
    assert [line["doc_id"] for line in lines] == [e["doc_id"] for e in expected]
    for line, want in zip(lines, expected, strict=True):
        assert line["score"] == pytest.approx(want["score"], abs=FP32)
        assert [m["text"] for m in line["mentions"]] == [m["text"] for m in want["mentions"]]


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


def test_shards_of_another_encoder_or_build_are_refused(built, tmp_path):
    root, model, head, _ = built
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


def test_a_failing_shard_fails_every_process_naming_it(built, tmp_path):
    root, model, head, _ = built
    records = corpus(4, 1)
    records[2]["mentions"] = records[3]["mentions"] = []  # shard 1 has nothing to index
    inputs = jsonl(tmp_path / "docs.jsonl", records)
    runs = sharded_build(inputs, tmp_path / "index", model, head)
    for code, _, stderr in runs:
        assert code == 1, stderr[-3000:]
        assert "built: shard-00001-of-00002: ValueError: no mentions to index" in stderr
    assert not (tmp_path / "index" / SHARDS).exists()


def test_processes_with_two_devices_each_build_the_same_index(built, tmp_path):
    """As the CLI runs on a 2-core machine: each process splits its batches over its own two
    devices (jax.distributed wants those inputs placed before jit). Other batch shapes round
    differently, so vectors agree to the fp32 rule, not bit for bit."""
    root, model, head, _ = built
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
