"""The compositional-descriptions set: offsets, labels, queries, groups and paraphrases agree."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from ner_jax.data import read_labelled

ASSETS = Path(__file__).resolve().parents[2] / "ner_jax" / "assets"
ROOT = ASSETS / "descriptions"
SENTENCES = ROOT / "sentences.jsonl"


def load(name: str):
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def records() -> list[dict]:
    lines = SENTENCES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def sentences():
    return read_labelled(SENTENCES)


@pytest.fixture(scope="module")
def queries() -> dict[str, str]:
    return load("queries.json")


@pytest.fixture(scope="module")
def groups() -> dict[str, list[str]]:
    return load("groups.json")


def sentence_counts(sentences) -> Counter:
    return Counter(kind for s in sentences for kind in {span.type for span in s.spans})


def test_reader_sees_every_record_and_span(records, sentences):
    assert len(sentences) == len(records)
    for record, sentence in zip(records, sentences, strict=True):
        assert sentence.text == record["text"]
        raw = {(s["start"], s["end"], s["type"]) for s in record["spans"]}
        assert len(raw) == len(record["spans"]), f"{record['id']}: a span is listed twice"
        assert {(s.start, s.end, s.type) for s in sentence.spans} == raw


def test_ids_unique_and_texts_unique(records):
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    texts = [r["text"] for r in records]
    assert len(set(texts)) == len(texts)


def test_span_text_is_the_slice_on_word_boundaries(records):
    wrong = []
    for r in records:
        text = r["text"]
        for s in r["spans"]:
            start, end = s["start"], s["end"]
            where = f"{r['id']} {s['type']!r} [{start}:{end}]"
            if text[start:end] != s["text"]:
                wrong.append(f"{where}: {text[start:end]!r} != {s['text']!r}")
            elif (start > 0 and text[start - 1].isalnum()) or text[start].isspace():
                wrong.append(f"{where}: starts inside a word: {s['text']!r}")
            elif (end < len(text) and text[end].isalnum()) or text[end - 1].isspace():
                wrong.append(f"{where}: ends inside a word: {s['text']!r}")
    assert not wrong, "\n".join(wrong)


def test_compositional_spans_carry_a_base_type(records, groups):
    compositional, base = set(groups["compositional"]), set(groups["base"])
    wrong = []
    for r in records:
        at: dict[tuple[int, int], set[str]] = {}
        for s in r["spans"]:
            at.setdefault((s["start"], s["end"]), set()).add(s["type"])
        for (start, end), kinds in at.items():
            where = f"{r['id']} {r['text'][start:end]!r}"
            if kinds & compositional and not kinds & base:
                wrong.append(f"{where}: {sorted(kinds)} has no base type")
    assert not wrong, "\n".join(wrong)


def test_every_queried_label_has_enough_sentences_and_is_not_everywhere(sentences, queries, groups):
    counts = sentence_counts(sentences)
    few = {label: counts[label] for label in queries if counts[label] < 4}
    assert not few, f"queried labels with fewer than 4 sentences: {few}"
    everywhere = [label for label in queries if counts[label] == len(sentences)]
    assert not everywhere
    # descriptions are meant to be 4-10 relevant sentences each, against many distractors
    many = {label: counts[label] for label in groups["compositional"] if counts[label] > 10}
    assert not many, f"compositional labels with more than 10 sentences: {many}"


def test_groups_cover_exactly_the_queried_labels(queries, groups):
    assert set(groups) == {"compositional", "base"}
    compositional, base = groups["compositional"], groups["base"]
    assert len(set(compositional)) == len(compositional) and len(set(base)) == len(base)
    assert not set(compositional) & set(base)
    assert set(compositional) | set(base) == set(queries)
    assert all(isinstance(w, str) and w.strip() for w in queries.values())


def test_paraphrases_start_with_the_query_wording(queries, groups):
    paraphrases = load("paraphrases.json")
    wrong = []
    for label, wordings in paraphrases.items():
        if label not in queries:
            wrong.append(f"{label!r}: not a queried label")
        elif not 3 <= len(wordings) <= 5 or len(set(wordings)) != len(wordings):
            wrong.append(f"{label!r}: needs 3-5 distinct wordings, has {wordings}")
        elif wordings[0] != queries[label]:
            wrong.append(f"{label!r}: starts with {wordings[0]!r}, not {queries[label]!r}")
    assert not wrong, "\n".join(wrong)
    assert len(set(paraphrases) & set(groups["base"])) >= 15
    assert len(set(paraphrases) & set(groups["compositional"])) >= 10


def words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def test_no_sentence_comes_from_the_demo_corpus(records):
    demo = ASSETS / "demo_corpus.jsonl"
    lines = demo.read_text(encoding="utf-8").splitlines()
    demo_texts = {json.loads(line)["text"] for line in lines if line.strip()}
    shared = [r["id"] for r in records if r["text"] in demo_texts]
    assert not shared, f"sentences also in the demo corpus: {shared}"
    # nor a light rewording of one: at most half of the words of the two sentences are shared
    demo_words = [words(text) for text in demo_texts]
    close = []
    for r in records:
        own = words(r["text"])
        overlap = max(len(own & other) / len(own | other) for other in demo_words)
        if overlap > 0.5:
            close.append(f"{r['id']} ({overlap:.2f}): {r['text']}")
    assert not close, "sentences close to a demo-corpus sentence:\n" + "\n".join(close)
