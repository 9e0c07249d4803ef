"""EncoderRecord: written with an index, round-trips, and compares only what changes vectors."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3

import pytest
from support.tiny_index import assert_same_hits

from ner_jax.index.build import read_meta
from ner_jax.index.encoder import EncoderMismatch
from ner_jax.index.record import EncoderRecord, check_same
from ner_jax.index.retriever import Retriever


def test_encoder_records_round_trip_and_compare_what_changes_the_vectors(corpus_index, tmp_path):
    root = corpus_index[0]
    written = (root / "index" / "encoder.json").read_text()
    record = EncoderRecord.from_json(json.loads(written), "encoder.json")
    assert json.dumps(record.to_json(), indent=1) + "\n" == written
    assert read_meta(root / "index")[0] == record and isinstance(record.taps, tuple)
    # Where the files were found, and their labels, do not make another encoder.
    moved = dataclasses.replace(record, head_path="/elsewhere", head_variant="relabelled")
    assert moved == record and not moved.differences(record)
    longer = dataclasses.replace(record, max_tokens=1024, dim=7)
    assert longer != record and longer.differences(record) == ["max_tokens", "dim"]
    with pytest.raises(EncoderMismatch, match=f"index {root} .*they differ in max_tokens, dim"):
        check_same(record, longer, root)
    # An index written before detectors existed has no detector fields: it opens as before.
    older = tmp_path / "index"
    shutil.copytree(root / "index", older)
    legacy = {k: v for k, v in json.loads(written).items() if not k.startswith("detector_")}
    (older / "encoder.json").write_text(json.dumps(legacy, indent=1) + "\n")
    assert read_meta(older)[0] == record
    with Retriever.load(older) as old, Retriever.load(root / "index") as new:
        assert_same_hits(old.search("castle", 3), new.search("castle", 3))
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        old.store.counts()
    (older / "encoder.json").write_text(json.dumps({**legacy, "new_field": 1}))
    with pytest.raises(ValueError, match=r"encoder.json: not an encoder record .*'new_field'"):
        read_meta(older)
