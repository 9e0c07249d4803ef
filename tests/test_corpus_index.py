"""Corpus index end to end on a tiny model: build, search, add, resume after a kill, refusals."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from cli import run_cli
from reference import RTOL, relative_error
from tiny_models import WORDS, named_sentences, tiny_checkpoint, tiny_detector

from ner_jax.corpus_docs import MentionsNeeded, read_documents
from ner_jax.corpus_encoder import EncoderMismatch
from ner_jax.corpus_index import (
    EXIT_AFTER_BATCHES,
    IndexConfig,
    add_to_index,
    build_corpus_index,
    read_meta,
)
from ner_jax.corpus_store import Store
from ner_jax.detector import NO_DETECTOR
from ner_jax.head import ProjectionHead
from ner_jax.head_file import save_head
from ner_jax.head_inputs import InputSpec, mention_inputs, query_inputs
from ner_jax.models import resolve_tap
from ner_jax.retriever import Retriever
from ner_jax.vector_index import load_index
from ner_jax.windows import Window, cover_windows, plan_windows, window_size

SPEC = InputSpec(("v@1", "attn@2"), sentence_end=True)
FIRST = [
    {
        "id": "a1",
        "text": "the castle in edinburgh",
        "mentions": [["castle", "b"], ["edinburgh", "c"]],
    },
    {"id": "a2", "text": "python and rust", "mentions": [[0, 6], [11, 15]]},
    {"id": "a3", "text": "insulin and keratin", "mentions": [["insulin", "p"], ["keratin", "p"]]},
    {"id": "a4", "text": "curie visited paris", "mentions": [["curie", "s"], ["paris", "c"]]},
    {
        "id": "a5",
        "text": "the palace in lisbon and ajax",
        "mentions": [[4, 10], [14, 20], [25, 29]],
    },
    {"id": "a6", "text": "the old bridge", "mentions": []},
]
LATER = [
    {"id": "b1", "text": "turing wrote haskell", "mentions": [["turing", "s"], ["haskell", "l"]]},
    {"id": "b2", "text": "the tower of berlin", "mentions": [["tower", "b"], ["berlin", "c"]]},
]


def jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def write_head(path, model, seed):
    width = SPEC.width(resolve_tap(model, 2).config)
    params = ProjectionHead(12, 6, 0.1).init(jax.random.key(seed), np.zeros((1, width)))["params"]
    record = dict(model=model, taps=list(SPEC.taps), sentence_end=True, hidden=12, out=6)
    return str(save_head(path, params, {**record, "dropout": 0.1}))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    model = str(tiny_checkpoint(root / "model"))
    heads = [write_head(root / f"head{i}.safetensors", model, i) for i in range(2)]
    first = read_documents([jsonl(root / "first.jsonl", FIRST)])
    config = IndexConfig(model=model, head=heads[0], batch_docs=2)
    summary = build_corpus_index(first, root / "index", config, progress=False)
    return root, model, heads, config, summary


def assert_same_hits(a, b, tolerance: float = 1e-6):
    assert [(h.doc_id, h.text) for h in a] == [(h.doc_id, h.text) for h in b]
    assert [m[:3] for h in a for m in h.mentions] == [m[:3] for h in b for m in h.mentions]
    scores = [m.score for h in b for m in h.mentions]
    assert [m.score for h in a for m in h.mentions] == pytest.approx(scores, abs=tolerance)


def by_hand(retriever, documents, query):
    """Best-mention cosine per document, from head outputs computed here in numpy."""
    head, extractor = retriever.encoder.head, retriever.encoder.extractor
    texts, spans = [d.text for d in documents], [list(d.spans) for d in documents]
    inputs, kept = mention_inputs(extractor, texts, spans, head.spec)
    assert kept.all()

    def project(x):
        h = x @ np.asarray(head.params["fc1"]["kernel"]) + np.asarray(head.params["fc1"]["bias"])
        h = (h / (1 + np.exp(-h))) @ np.asarray(head.params["fc2"]["kernel"])
        h = h + np.asarray(head.params["fc2"]["bias"])
        return h / np.linalg.norm(h, axis=-1, keepdims=True)

    sims = project(query_inputs(extractor, [query], head.spec, " {}"))[0] @ project(inputs).T
    docs = [d for d, s in enumerate(spans) for _ in s]
    best = {}
    for d, s in zip(docs, sims, strict=True):
        best[documents[d].id] = max(best.get(documents[d].id, -np.inf), float(s))
    return best


def test_build_search_add_search(setup, tmp_path):
    root, model, heads, _, summary = setup
    assert (summary["documents"], summary["mentions"], summary["dropped_mentions"]) == (6, 11, 0)
    first = read_documents([root / "first.jsonl"])
    retriever = Retriever.load(root / "index")
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


def test_queries_and_additions_from_another_encoder_are_refused(setup, tmp_path):
    root, model, heads, config, _ = setup
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


KILLED_BUILD = """
import sys
from ner_jax.corpus_docs import read_documents
from ner_jax.corpus_index import IndexConfig, build_corpus_index
documents = read_documents([sys.argv[1]])
config = IndexConfig(model=sys.argv[3], head=sys.argv[4], batch_docs=2)
build_corpus_index(documents, sys.argv[2], config, progress=False)
"""


def test_a_killed_build_resumes_without_loss_or_duplicates(setup, tmp_path):
    root, model, heads, config, _ = setup
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
    args = [tmp_path / "docs.jsonl", index, model, heads[0]]
    env = {**os.environ, EXIT_AFTER_BATCHES: "2"}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, *map(str, args)], env=env, capture_output=True
    )
    assert killed.returncode == 99, killed.stderr.decode()[-2000:]
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


def test_readers_name_the_file_and_line(tmp_path):
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match=r"empty.txt: empty file"):
        read_documents([tmp_path / "empty.txt"])
    (tmp_path / "plain.txt").write_text("\nthe castle\n\n \t\npython and rust\n")
    plain = read_documents([tmp_path / "plain.txt"])
    name = str(tmp_path / "plain.txt")
    assert [(d.id, d.text, d.spans) for d in plain] == [
        (f"{name}:2", "the castle", None),
        (f"{name}:5", "python and rust", None),
    ]
    for suffix in (".txt", ".jsonl", ".conll"):
        (tmp_path / f"bad{suffix}").write_bytes(b"fine\n\xff\xfe broken\n")
        with pytest.raises(ValueError, match=rf"bad\{suffix}:2: not UTF-8"):
            read_documents([tmp_path / f"bad{suffix}"])
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n\n{"text": oops}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3: invalid JSON"):
        read_documents([tmp_path / "bad.jsonl"])
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "body": "no text"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: no 'text'"):
        read_documents([tmp_path / "bad.jsonl"])
    (tmp_path / "bad.jsonl").write_text('{"text": "a b", "mentions": [["zzz", "t"]]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: mention 0 'zzz' does not occur"):
        read_documents([tmp_path / "bad.jsonl"])
    jsonl(tmp_path / "twice.jsonl", [{"id": "d", "text": "a"}, {"id": "d", "text": "b"}])
    with pytest.raises(ValueError, match="repeated: 'd'"):
        read_documents([tmp_path / "twice.jsonl"])
    (tmp_path / "gold.txt").write_text("the\tO\ncastle\tB-building\n\npython\tB-language\n")
    labelled = {"text": "the castle", "spans": [{"start": 4, "end": 10, "type": "b"}]}
    jsonl(tmp_path / "gold.jsonl", [labelled])  # the labelled JSONL format: its gold spans
    assert read_documents([tmp_path / "gold.jsonl"])[0].spans == ((4, 10),)
    gold = read_documents([tmp_path / "gold.txt"])  # sniffed as CoNLL: tags, 2 columns
    assert [(d.id[-6:], d.text, d.spans) for d in gold] == [
        (".txt:1", "the castle", ((4, 10),)),
        (".txt:4", "python", ((0, 6),)),
    ]


def test_long_documents_and_unusual_characters(setup, tmp_path):
    root, model, heads, _, _ = setup
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


def test_command_line_index_and_search(setup, tmp_path):
    root, model, heads, _, _ = setup
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
    printed = run_cli("search", "--index", index, "--json", "castle", "--k", "2")
    assert printed.returncode == 0, printed.stderr[-2000:]
    lines = [json.loads(line) for line in printed.stdout.splitlines()]
    assert [line["doc_id"] for line in lines] == [e["doc_id"] for e in expected]
    for line, want in zip(lines, expected, strict=True):
        assert line.keys() == {"doc_id", "score", "text", "mentions"}
        assert line["mentions"][0].keys() == {"start", "end", "text", "score"}
        assert line["score"] == pytest.approx(want["score"], abs=1e-6)
    refused = run_cli("search", "--index", index, "--head", heads[1], "castle")
    assert refused.returncode == 1 and "ner-jax search: index" in refused.stderr
    assert "but the encoder asked for is" in refused.stderr and "Traceback" not in refused.stderr


def test_window_plan_edge_cases():
    text = " ".join("w" * (1 + i % 3) for i in range(100))  # 100 tokens of 1-3 characters
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
    offsets = np.array([[0, 0]] + [[s, text.find(" ", s) % (len(text) + 1)] for s in starts])
    offsets[-1, 1] = len(text)
    token = [(int(s), int(e)) for s, e in offsets[1:]]
    spans = [
        (token[2][0], token[2][1]),  # near the start: the first window
        (token[30][0], token[37][1]),  # 8 tokens straddling every grid window: its own window
        (token[60][1], token[61][0]),  # only the space between two tokens: no token of its own
        (token[70][0], token[85][1]),  # longer than a window: cannot be read
        (token[99][0], len(text)),  # the last token: the last window
    ]
    windows, dropped = plan_windows(text, offsets, spans, max_real=10)
    assert dropped == [2, 3] and window_size(10) == 9
    assert [w.mentions for w in windows] == [(0,), (1,), (4,)]
    assert (windows[0].start, windows[1].start) == (0, token[37 - 9 + 1][0])
    assert windows[-1].end == len(text) and windows[-1].start == token[100 - 9][0]
    for w in windows:
        (i,) = w.mentions
        assert w.start <= spans[i][0] < spans[i][1] <= w.end
    whole, none = plan_windows(text, offsets, spans, max_real=100)
    assert whole == [Window(0, len(text), (0, 1, 2, 3, 4))] and none == []


def test_plain_text_is_detected_and_read_in_one_pass(setup, tmp_path):
    root, model, heads, _, _ = setup
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
