"""Labelled-data readers: every format round-trips, bad input fails naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.shared_data import require_data

from ner_jax.data.datasets import Sentence, read_labelled


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def mentions(sentence: Sentence) -> list[tuple[str, str]]:
    return [(sentence.text[s.start : s.end], s.type) for s in sentence.spans]


def test_crossner_bio_with_iob1_start_and_docstart(tmp_path):
    path = write(
        tmp_path,
        "ai.txt",
        "-DOCSTART-\tO\n\nPopular\tO\nopinion-based\tB-product\nrecommender\tI-product\n"
        "in\tO\nLisp\tI-programlang\nC\tB-programlang\n\n\nAlan\tB-person\nTuring\tI-person\n",
    )
    first, second = read_labelled(path)
    assert first.text == "Popular opinion-based recommender in Lisp C"
    assert first.line == 3 and second.line == 11
    # the I- after O starts a span (IOB1); the B- right after it starts another one
    assert mentions(first) == [
        ("opinion-based recommender", "product"),
        ("Lisp", "programlang"),
        ("C", "programlang"),
    ]
    assert mentions(second) == [("Alan Turing", "person")]


def test_wnut_space_separated(tmp_path):
    path = write(tmp_path, "wnut.txt", "@paul O\nlikes  O\nNew B-location\nYork I-location\n")
    [sentence] = read_labelled(path)
    assert mentions(sentence) == [("New York", "location")]


def test_multiconer_headers(tmp_path):
    path = write(
        tmp_path,
        "en.conll",
        "# id 5239d808\tdomain=en\neli _ _ B-OtherPER\nlilly _ _ I-OtherPER\nof _ _ O\n"
        "eli _ _ B-PublicCorp\nlilly _ _ I-PublicCorp\n\n\n# id d7d47dfc\tdomain=en\n"
        "medication _ _ B-Medication/Vaccine\n",
    )
    first, second = read_labelled(path)
    assert first.line == 2 and second.line == 10
    assert mentions(first) == [("eli lilly", "OtherPER"), ("eli lilly", "PublicCorp")]
    assert mentions(second) == [("medication", "Medication/Vaccine")]


def test_fewnerd_io(tmp_path):
    path = write(
        tmp_path,
        "fewnerd.txt",
        "Tom\tperson-actor\nHanks\tperson-actor\nvisited\tO\nLos\tlocation-GPE\n"
        "Angeles\tlocation-GPE\nairport\tbuilding-airport\n\nOK\tO\n",
    )
    first, second = read_labelled(path)
    # a change of type ends a span even without O in between
    assert mentions(first) == [
        ("Tom Hanks", "person-actor"),
        ("Los Angeles", "location-GPE"),
        ("airport", "building-airport"),
    ]
    assert second.spans == () and second.text == "OK"


def neretrieve_record(**extra) -> dict:
    record = {
        "id": "XAZbWYcB1INCf0Uy5i5T",
        "doc_id": "Laser-3",
        "title": "Laser",
        "page_id": "2142294",
        "para_index": 3,
        "content": "The band Pink Floyd used lasers in London in 1973 .",
        "document_token_sequence": "The band Pink Floyd used lasers in London in 1973 .".split(),
        "tagged_entities": {
            "Rock_band": {"Q2306": {"Pink Floyd": [[2, 3]]}},
            "City": {"Q84": {"London": [[7]]}},
            "Musical_group": {"Q2306": {"Pink Floyd": [[2, 3], []]}},  # [] has no offsets
        },
        "tagged_entity_types": ["Rock_band", "City", "Musical_group"],
    }
    return record | extra


def test_neretrieve_jsonl(tmp_path):
    records = [neretrieve_record(), neretrieve_record(content=None, id="b")]
    del records[1]["content"]  # text from the token sequence alone
    path = write(tmp_path, "NERetrive_sup_test.jsonl", "\n".join(map(json.dumps, records)))
    for sentence, line in zip(read_labelled(path), (1, 2), strict=True):
        assert sentence.text == "The band Pink Floyd used lasers in London in 1973 ."
        assert sentence.line == line
        # the empty reference located the same mention: one span, not two
        assert mentions(sentence) == [
            ("Pink Floyd", "Musical_group"),
            ("Pink Floyd", "Rock_band"),
            ("London", "City"),
        ]


def test_neretrieve_tokens_aligned_to_content(tmp_path):
    record = neretrieve_record(content="The band  Pink Floyd used lasers in London in 1973.")
    record["document_token_sequence"][-2:] = ["1973", "."]
    record["tagged_entities"] = {"Year": {"y": {"1973": [[9]]}}, "City": {"c": {"london": [[]]}}}
    [sentence] = read_labelled(write(tmp_path, "x.jsonl", json.dumps(record)))
    assert mentions(sentence) == [("London", "City"), ("1973", "Year")]


def test_generic_jsonl_without_suffix(tmp_path):
    lines = [
        {"text": "Ada wrote code", "spans": [{"start": 0, "end": 3, "type": "person"}]},
        {"text": "nothing here", "spans": []},
    ]
    path = write(tmp_path, "corpus.txt", "\n".join(map(json.dumps, lines)) + "\n\n")
    first, second = read_labelled(path)
    assert mentions(first) == [("Ada", "person")] and second.spans == ()


@pytest.mark.parametrize(
    "name, text, line, message",
    [
        ("a.txt", "x\tO\ny\n", 2, "1 columns"),
        ("a.txt", "x\tO\ny\ta\tb\n", 2, "3 columns"),
        ("a.txt", "x\tO\ny\tX-foo\n", 2, "bad tag 'X-foo'"),
        ("a.txt", "x\tO\ny\tB-\n", 2, "bad tag"),
        ("a.txt", "x\tB-per\n\ny\tperson-actor\n", 3, "mixes formats"),
        ("a.txt", "x\tO\n\ny _ _ O\n", 3, "mixes formats"),
        ("a.jsonl", '{"text": "a", "spans": []}\n{"text": \n', 2, "invalid JSON"),
        ("a.jsonl", '{"text": "ab", "spans": [{"start": 1, "end": 3, "type": "t"}]}', 1, "range"),
        ("a.jsonl", '{"text": "ab", "spans": [{"start": 0, "end": 1}]}', 1, "'type'"),
        ("a.jsonl", '{"content": "ab"}', 1, "expected 'text' and 'spans'"),
        ("a.jsonl", "[1, 2]", 1, "expected a JSON object"),
        (
            "a.jsonl",
            '{"text": "a", "spans": []}\n{"content": "b", "tagged_entities": {}}',
            2,
            "mix",
        ),
        ("a.jsonl", '{"id": "1", "tagged_entities": {}}', 1, "join them with the corpus"),
        (
            "a.jsonl",
            '{"content": "a b", "tagged_entities": {"T": {"e": {"c": [[2]]}}}}',
            1,
            "range",
        ),
        ("a.jsonl", '{"content": "a b", "tagged_entities": {"T": {"e": {"c": [[]]}}}}', 1, "occur"),
        ("a.jsonl", '{"content": "a b", "tagged_entities": {"T": ["a"]}}', 1, "expected"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, name, text, line, message):
    path = write(tmp_path, name, text)
    with pytest.raises(ValueError, match=message) as caught:
        read_labelled(path)
    assert str(caught.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("text", ["", "\n\n  \n", "-DOCSTART-\tO\n\n", "# id 1\tdomain=en\n"])
def test_empty_files_are_errors(tmp_path, text):
    path = write(tmp_path, "empty.txt", text)
    with pytest.raises(ValueError, match="sentences") as caught:
        read_labelled(path)
    assert str(caught.value).startswith(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_labelled(tmp_path / "nope.txt")


# Tokens: any printable text without whitespace (the column separators), unicode included.
TOKENS = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=6
).filter(lambda t: not t.startswith("-DOCSTART-"))


TAGGED = st.lists(
    st.tuples(TOKENS, st.sampled_from("OBI"), st.sampled_from(["per", "Loc", "é-org"])),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sentences=st.lists(TAGGED, min_size=1, max_size=3))
def test_bio_property(tmp_path, sentences):
    blocks, gold = [], []
    for rows in sentences:
        blocks.append("".join(f"{t}\t{b if b == 'O' else f'{b}-{k}'}\n" for t, b, k in rows))
        entities, previous = [], None  # gold entities as (token list, type), IOB1 rules
        for token, b, kind in rows:
            if b == "O":
                previous = None
                continue
            if b == "I" and previous == kind:
                entities[-1][0].append(token)
            else:
                entities.append(([token], kind))
            previous = kind
        gold.append(sorted((" ".join(tokens), kind) for tokens, kind in entities))
    path = write(tmp_path, "p.txt", "\n".join(blocks))
    read = read_labelled(path)
    assert [s.text for s in read] == [" ".join(t for t, _, _ in rows) for rows in sentences]
    assert [sorted(mentions(s)) for s in read] == gold


REAL_COUNTS = {
    "crossner/ai/train.txt": 100,
    "crossner/literature/train.txt": 100,
    "crossner/music/train.txt": 100,
    "crossner/politics/train.txt": 200,
    "crossner/science/train.txt": 200,
    "crossner/ai/dev.txt": 350,
    "crossner/ai/test.txt": 431,
    "crossner/literature/dev.txt": 400,
    "crossner/literature/test.txt": 416,
    "crossner/music/dev.txt": 380,
    "crossner/music/test.txt": 465,
    "crossner/politics/dev.txt": 541,
    "crossner/politics/test.txt": 651,
    "crossner/science/dev.txt": 450,
    "crossner/science/test.txt": 543,
    # SOURCE.md: train90 + train10 = the official 16,778 training sentences; dev has 871
    "multiconer2_en/en-train90.conll": 15099,
    "multiconer2_en/en-train10.conll": 1679,
    "multiconer2_en/en-dev.conll": 871,
}


@pytest.mark.parametrize("name", sorted(REAL_COUNTS))
def test_real_files(name):
    data = require_data("no real data to read")
    sentences = read_labelled(data / name)
    assert len(sentences) == REAL_COUNTS[name]
    spans = [s for sentence in sentences for s in sentence.spans]
    assert len(spans) > len(sentences)  # both corpora average more than one mention a sentence
    for sentence in sentences[:200]:
        assert sentence.text == sentence.text.strip() and "  " not in sentence.text
        for text, _ in mentions(sentence):
            assert text and text == text.strip()
