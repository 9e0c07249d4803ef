"""The retrieval benchmark protocol: pooled files, deduplicated documents, one query per type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.shared_data import require_data

from ner_jax.data.benchmark import (
    Benchmark,
    build_benchmark,
    is_catch_all,
    load_query_words,
    natural_words,
)
from ner_jax.data.datasets import Span

FIRST = """\
Ada\tB-person
Lovelace\tI-person
wrote\tO
programs\tO

Paris\tB-location
hosts\tO
ICML\tB-conference

the\tO
misc\tB-misc
"""


SECOND = """\
Paris\tB-country
hosts\tO
ICML\tB-conference

Alan\tB-person
Turing\tI-person
"""


@pytest.fixture
def corpus(tmp_path, monkeypatch) -> Benchmark:
    monkeypatch.chdir(tmp_path)  # relative paths, as a user would type them
    Path("first.txt").write_text(FIRST, encoding="utf-8")
    Path("data").mkdir()
    Path("data/second.txt").write_text(SECOND, encoding="utf-8")
    return build_benchmark(["first.txt", "./data/second.txt"], {"conference": "academic meeting"})


def test_documents_dedup_and_span_union(corpus):
    assert [d.id for d in corpus.documents] == [
        "first.txt:0",
        "first.txt:1",
        "first.txt:2",
        "./data/second.txt:1",  # the path exactly as given; :0 merged into first.txt:1
    ]
    assert [d.text for d in corpus.documents] == [
        "Ada Lovelace wrote programs",
        "Paris hosts ICML",
        "the misc",
        "Alan Turing",
    ]
    # both labellings of "Paris" survive; the shared ICML span appears once
    assert corpus.documents[1].spans == (
        Span(0, 5, "country"),
        Span(0, 5, "location"),
        Span(12, 16, "conference"),
    )


def test_queries(corpus):
    queries = {q.type: q for q in corpus.queries}
    assert [q.type for q in corpus.queries] == sorted(queries)
    assert "misc" not in queries  # a catch-all: no query, but its span stays on the document
    assert corpus.documents[2].spans == (Span(4, 8, "misc"),)
    assert queries["conference"].text == "academic meeting"  # from the map
    assert queries["person"].text == "person"  # the generic rule
    assert {t: q.relevant for t, q in queries.items()} == {
        "conference": (1,),
        "country": (1,),
        "location": (1,),
        "person": (0, 3),
    }


def test_order_of_files_decides_ids(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(FIRST, encoding="utf-8")
    b.write_text(SECOND, encoding="utf-8")
    ids = [d.id for d in build_benchmark([str(b), str(a)]).documents]
    assert ids == [f"{b}:0", f"{b}:1", f"{a}:0", f"{a}:2"]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="non-empty sequence"):
        build_benchmark([])
    with pytest.raises(ValueError, match="non-empty sequence"):
        build_benchmark("first.txt")  # a lone string is not a list of files
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        build_benchmark([str(tmp_path / "absent.txt")])


@pytest.mark.parametrize(
    "label, words",
    [
        ("HumanSettlement", "human settlement"),
        ("musicalartist", "musicalartist"),  # no rule can split it: the JSON maps do
        ("Medication/Vaccine", "medication or vaccine"),
        ("person-actor", "person actor"),
        ("programming_language", "programming language"),
        ("ORG", "org"),
        ("MusicalGRP", "musical grp"),
        ("location-GPE", "location gpe"),
        ("HTMLParser", "html parser"),
        ("location-road/railway/highway/transit", "location road or railway or highway or transit"),
        ("ÉcoleNormale", "école normale"),
    ],
)
def test_natural_words(label, words):
    assert natural_words(label) == words


@pytest.mark.parametrize(
    "label, expected",
    [
        ("misc", True),
        ("MISC", True),
        ("other", True),
        ("OtherPER", True),
        ("OtherLOC", True),
        ("OtherPROD", True),
        ("person-other", True),
        ("other-award", False),  # a Few-NERD type under the coarse "other" class
        ("Otherworld", False),
        ("organisation", False),
        ("ORG", False),
    ],
)
def test_is_catch_all(label, expected):
    assert is_catch_all(label) is expected


def test_load_query_words(tmp_path):
    good = tmp_path / "q.json"
    good.write_text(json.dumps({"ORG": "organization"}), encoding="utf-8")
    assert load_query_words(good) == {"ORG": "organization"}
    for name, text, message in [
        ("bad.json", '{"ORG": ', "invalid JSON"),
        ("list.json", '["ORG"]', "JSON object"),
        ("value.json", '{"ORG": 3}', "'ORG'"),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message) as caught:
            load_query_words(str(path))
        assert str(caught.value).startswith(str(path))
    with pytest.raises(FileNotFoundError, match="none.json"):
        load_query_words(tmp_path / "none.json")


def test_pooled_crossner():
    data = require_data("no real corpus to pool")
    paths = [str(p) for p in sorted(data.glob("crossner/*/*.txt"))]
    assert len(paths) == 15
    words = load_query_words(data / "queries" / "crossner.json")
    benchmark = build_benchmark(paths, words)
    assert len(benchmark.documents) == 5239  # of 5,327 sentences
    assert len(benchmark.queries) == 38  # 39 types less misc
    assert [q.type for q in benchmark.queries] == sorted(words)
    assert all(q.text == words[q.type] and q.relevant for q in benchmark.queries)


def test_pooled_multiconer():
    data = require_data("no real corpus to pool")
    names = ("en-train90.conll", "en-train10.conll", "en-dev.conll")
    words = load_query_words(data / "queries" / "multiconer.json")
    benchmark = build_benchmark([str(data / "multiconer2_en" / n) for n in names], words)
    assert len(benchmark.documents) == 17535  # of 17,649 sentences
    # 33 fine types, of which OtherPER, OtherLOC and OtherPROD are catch-alls: 30 queries
    assert len(words) == 33
    assert [q.type for q in benchmark.queries] == sorted(t for t in words if not is_catch_all(t))
    assert len(benchmark.queries) == 30


def test_catch_all_types_become_queries_only_on_request(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("ajax\tB-misc\nwon\tO\n\nparis\tB-city\n")
    assert [q.type for q in build_benchmark([str(path)]).queries] == ["city"]
    with_all = build_benchmark([str(path)], catch_all_queries=True)
    assert [(q.type, q.relevant) for q in with_all.queries] == [("city", (1,)), ("misc", (0,))]
