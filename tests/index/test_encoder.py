"""The corpus encoder's reading: long documents in windows, plain text through a detector."""

from __future__ import annotations

import json
import random
import shutil

import numpy as np
import pytest
from support.cli import run_cli
from support.reference import RTOL, relative_error
from support.tiny_index import SPEC, jsonl
from support.tiny_models import WORDS, named_sentences, tiny_detector

from ner_jax.detector.tagger import NO_DETECTOR
from ner_jax.features.inputs import mention_inputs
from ner_jax.index.build import IndexConfig, add_to_index, build_corpus_index, read_meta
from ner_jax.index.documents import Document, MentionsNeeded, read_documents
from ner_jax.index.encoder import EncoderMismatch
from ner_jax.index.retriever import Retriever
from ner_jax.index.store import Store
from ner_jax.index.vectors import load_index
from ner_jax.index.windows import cover_windows, plan_windows, window_size


def test_long_documents_and_unusual_characters(corpus_index, tmp_path):
    root, model, heads, _, _ = corpus_index
    rng = random.Random(1)
    words, spans, length = [], [], 0
    while length < 50_000:
        word = rng.choice(WORDS[3:])
        if len(words) % 400 == 399:  # a mention every 400 words, after an emoji now and then
            word = rng.choice(["🏰", "cafe\u0301", "ß"]) + " " + word
            spans.append((length + len(word) - len(word.split()[-1]), length + len(word)))
        words.append(word)
        length += len(word) + 1
    long_text = " ".join(words)
    unusual = "🏰 the castle 👩‍👩‍👧 in edinburgh cafe\u0301 paris"
    records = [
        {"id": "long", "text": long_text, "mentions": [list(s) for s in spans]},
        {
            "id": "emoji",
            "text": unusual,
            "mentions": [["castle", "b"], ["cafe\u0301", "x"], ["paris", "c"]],
        },
    ]
    documents = read_documents([jsonl(tmp_path / "long.jsonl", records)])
    assert len(spans) > 15
    config = IndexConfig(model=model, head=heads[0], max_tokens=64)
    summary = build_corpus_index(documents, tmp_path / "index", config, progress=False)
    assert summary["dropped_mentions"] == 0
    assert summary["mentions"] == len(spans) + 3
    retriever = Retriever.load(tmp_path / "index")
    texts = {d.id: d.text for d in documents}
    hits = retriever.search("castle", k=2)
    assert {h.doc_id for h in hits} == {"long", "emoji"}
    for hit in hits:
        assert hit.text == texts[hit.doc_id]
        assert all(texts[hit.doc_id][m.start : m.end] == m.text for m in hit.mentions)
    # Each mention is read in its window: redo one window by hand and compare the vectors.
    encoder = retriever.encoder
    _, offsets = encoder.extractor.encode([long_text])
    windows, dropped = plan_windows(long_text, offsets[0], spans, encoder.max_real)
    assert not dropped and len(windows) == len(spans)  # mentions far apart: a window each
    size = window_size(encoder.max_real)
    for w in windows:
        (i,) = w.mentions
        assert w.start <= spans[i][0] < spans[i][1] <= w.end
        _, tokens = encoder.extractor.encode([long_text[w.start : w.end]])
        assert len(tokens[0]) <= 64  # nothing cut off
        before = len(long_text[: spans[i][0]].split())
        assert len(long_text[w.start : spans[i][0]].split()) >= min(before, size - size // 2 - 2)
    w = windows[7]
    (i,) = w.mentions  # mention rows follow document order
    shifted = [(spans[i][0] - w.start, spans[i][1] - w.start)]
    inputs, _ = mention_inputs(encoder.extractor, [long_text[w.start : w.end]], [shifted], SPEC)
    stored = np.asarray(load_index(tmp_path / "index" / "vectors").vectors)
    # The index read this window packed with others, in another batch shape than here: the fp32
    # rule (a wrong window's context would move these unit vectors by ~0.1; other XLA CPU
    # kernels move them by up to 1.5e-6 on some x86 CPUs).
    assert relative_error(stored[i : i + 1], encoder.head.project(inputs)) <= RTOL
    # The short document with emoji is one window: the same vectors as reading it whole.
    emoji = documents[1]
    inputs, _ = mention_inputs(encoder.extractor, [emoji.text], [list(emoji.spans)], SPEC)
    assert relative_error(stored[-3:], encoder.head.project(inputs)) <= RTOL


def test_plain_text_is_detected_and_read_in_one_pass(corpus_index, tmp_path):
    root, model, heads, _, _ = corpus_index
    detector = tiny_detector(tmp_path / "names", model)
    texts, _ = named_sentences(20, 5)
    rng = random.Random(2)
    long_text = " and ".join(rng.choice(texts) for _ in range(60))  # ~500 tokens
    (tmp_path / "plain.txt").write_text("\n".join([*texts, "", long_text]) + "\n")
    plain = read_documents([tmp_path / "plain.txt"])
    config = IndexConfig(model=model, head=heads[0], detector=str(detector), max_tokens=64)
    with pytest.raises(MentionsNeeded, match="no mention detector.*'mentions'.*CoNLL"):
        build_corpus_index(plain, tmp_path / "none", IndexConfig(model=model, head=heads[0],
                           detector=NO_DETECTOR), progress=False)  # fmt: skip
    summary = build_corpus_index(plain, tmp_path / "index", config, progress=False)
    args = ["--model", model, "--head", heads[0], "--detector", detector, "--max_tokens", "64"]
    built = run_cli("index", "--input", tmp_path / "plain.txt", "--index", tmp_path / "cli", *args)
    assert built.returncode == 0, built.stderr[-2000:]
    assert f"21 documents, {summary['mentions']} mentions" in built.stdout
    store = Store(tmp_path / "index" / "store.sqlite")
    rows = store.db.execute("SELECT row, doc, start_char, end_char FROM mentions").fetchall()
    store.close()
    assert summary["mentions"] == len(rows) > 40
    found = {}  # document index -> its detected spans, in order
    for _, doc, start, end in rows:
        found.setdefault(doc, []).append((start, end))
    # Short documents: the detected spans read as given spans give the same vectors.
    given = [
        {"id": d.id, "text": d.text, "mentions": [list(s) for s in found.get(i, [])]}
        for i, d in enumerate(plain)
    ]
    read = read_documents([jsonl(tmp_path / "given.jsonl", given)])
    reference = build_corpus_index(read, tmp_path / "given", config, progress=False)
    assert reference["mentions"] == summary["mentions"]
    a, b = (
        np.asarray(load_index(p / "vectors").vectors)
        for p in (tmp_path / "index", tmp_path / "given")
    )
    short = [i for i, (_, doc, _, _) in enumerate(rows) if doc < len(texts)]
    np.testing.assert_allclose(a[short], b[short], atol=1e-6)
    # The long document is read in overlapping windows, each span kept once, in order.
    spans = found[len(texts)]
    assert spans == sorted(set(spans)) and len(spans) > 30
    assert all(long_text[s:e] in long_text for s, e in spans)
    encoder = Retriever.load(tmp_path / "index").encoder
    _, offsets = encoder.extractor.encode([long_text])
    assert len(cover_windows(long_text, offsets[0], encoder.max_real)) > 4
    # Adding plain text later uses the index's detector; another detector is refused.
    added = add_to_index(read_documents([jsonl(tmp_path / "more.jsonl", [
        {"id": "m1", "text": "we visited paris and the stirling castle"}])]),
        tmp_path / "index", progress=False)  # fmt: skip
    assert added["added_mentions"] >= 1
    record = json.loads((tmp_path / "index" / "encoder.json").read_text())
    assert record["detector_sha256"] and record["detector_variant"] is None
    other = tiny_detector(tmp_path / "other", model, steps=100)
    shutil.copy(other, detector)
    with pytest.raises(EncoderMismatch, match="its detector .* now has sha256"):
        Retriever.load(tmp_path / "index")


def test_the_detector_operating_point_is_recorded_and_additions_keep_it(corpus_index, tmp_path):
    root, model, heads, _, _ = corpus_index
    detector = tiny_detector(tmp_path / "names", model, steps=100)
    texts, _ = named_sentences(12, 7)
    plain = [Document(f"p{i}", t, None) for i, t in enumerate(texts)]
    more = [Document(f"m{i}", t, None) for i, t in enumerate(named_sentences(4, 8)[0])]
    words = sum(len(d.text.split()) for d in more)

    def build(documents, name, threshold):
        config = IndexConfig(
            model=model, head=heads[0], detector=str(detector), detector_threshold=threshold
        )
        return build_corpus_index(documents, tmp_path / name, config, progress=False)["mentions"]

    found = {t: build(plain, str(t), t) for t in (0.0, 0.7, None)}
    assert found[0.0] == sum(len(t.split()) for t in texts)  # threshold 0: every word
    assert found[0.0] > found[0.7] > 0
    records = {t: read_meta(tmp_path / str(t))[0] for t in found}
    assert {t: r.detector_threshold for t, r in records.items()} == {0.0: 0.0, 0.7: 0.7, None: None}
    assert records[0.0].differences(records[0.7]) == ["detector_threshold"]
    written = list(json.loads((tmp_path / "0.0" / "encoder.json").read_text()))
    assert written.index("detector_threshold") == written.index("detector_variant") + 1
    # What the same detector finds in the added documents at each operating point, before its
    # record (outside its sha256) moves its own operating point to every word.
    expected = {t: build(more, f"more-{t}", t) for t in (0.7, None)}
    assert max(expected.values()) < words
    record = json.loads(detector.with_suffix(".json").read_text())
    detector.with_suffix(".json").write_text(json.dumps({**record, "threshold": 0.0}))
    for threshold, count in [*expected.items(), (0.0, words)]:
        added = add_to_index(more, tmp_path / str(threshold), progress=False)
        assert added["added_mentions"] == count, threshold
    # An encoder.json written before operating points were recorded opens as Viterbi decoding.
    legacy = {k: v for k, v in records[None].to_json().items() if k != "detector_threshold"}
    (tmp_path / "None" / "encoder.json").write_text(json.dumps(legacy, indent=1) + "\n")
    assert read_meta(tmp_path / "None")[0] == records[None]
    with Retriever.load(tmp_path / "None") as retriever:
        assert retriever.encoder.detector.threshold is None
        assert retriever.encoder.record == records[None]


def test_an_index_built_in_bfloat16_answers_in_bfloat16_after_reopening(corpus_index, tmp_path):
    root, model, heads, _, _ = corpus_index
    documents = read_documents([root / "first.jsonl"])
    config = IndexConfig(model=model, head=heads[0], dtype="bfloat16")
    build_corpus_index(documents, tmp_path / "bf16", config, progress=False)
    assert json.loads((tmp_path / "bf16" / "encoder.json").read_text())["dtype"] == "bfloat16"
    with Retriever.load(tmp_path / "bf16") as retriever:
        assert retriever.encoder.record.dtype == "bfloat16"
        assert retriever.encoder.extractor.model.dtype == "bfloat16"
        assert retriever.search("castle", k=1)
    # `auto` is resolved once, when the index is built: fp32 on this CPU, and recorded so.
    build_corpus_index(documents, tmp_path / "auto", IndexConfig(model=model, head=heads[0]))
    assert json.loads((tmp_path / "auto" / "encoder.json").read_text())["dtype"] == "float32"
