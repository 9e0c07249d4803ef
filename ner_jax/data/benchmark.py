"""A type-retrieval benchmark from labelled corpora: sentences are documents, types are queries."""

# Protocol (other code re-scores rankings against it, so it is exact):
# - the files are pooled in the order given; each sentence is a document with id "PATH:N" (PATH
#   as the caller wrote it, N the 0-based sentence index in that file);
# - identical sentence texts are one document, under the id of the first occurrence, with the
#   set union of their spans sorted by (start, end, type);
# - one query per type present in the pool, except catch-alls (misc, Other*, *-other), sorted by
#   label (plain string order); its text is query_words[label] if given, else natural_words;
# - relevant = the indices (ascending) of documents with at least one span of that type.

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ner_jax.data.datasets import Span, read_labelled


@dataclasses.dataclass(frozen=True)
class Document:
    id: str  # "PATH:N" of the first occurrence
    text: str
    spans: tuple[Span, ...]


@dataclasses.dataclass(frozen=True)
class Query:
    type: str  # the dataset label
    text: str  # the words that are embedded
    relevant: tuple[int, ...]  # indices into Benchmark.documents, ascending


@dataclasses.dataclass(frozen=True)
class Benchmark:
    documents: tuple[Document, ...]
    queries: tuple[Query, ...]


def natural_words(label: str) -> str:
    """A label as lower-case words: split CamelCase, `_`, `-`, spaces; `/` reads as "or"."""
    # "Medication/Vaccine" (MultiCoNER) and "road/railway/highway/transit" (Few-NERD) list
    # alternatives, so "or" keeps the meaning. Run-together words ("musicalartist") cannot be
    # split by rule: the JSON maps passed as query_words cover those.
    alternatives = [_words(part) for part in label.split("/")]
    words = " or ".join(part for part in alternatives if part)
    return words or label.strip().lower()


def _words(part: str) -> str:
    out = []
    for piece in re.split(r"[\s_\-]+", part):
        word = ""
        for i, char in enumerate(piece):
            previous = piece[i - 1] if i else ""
            following = piece[i + 1] if i + 1 < len(piece) else ""
            # A word starts at lower->Upper ("HumanSettlement"), digit->Upper, and at the last
            # capital of an acronym followed by lower case ("HTMLParser" -> "HTML", "Parser").
            acronym_end = previous.isupper() and following.islower()
            if (
                word
                and char.isupper()
                and (previous.islower() or previous.isdigit() or acronym_end)
            ):
                out.append(word)
                word = ""
            word += char
        if word:
            out.append(word)
    return " ".join(w.lower() for w in out)


def is_catch_all(label: str) -> bool:
    """True for types that are no class of their own: misc, other, Other* and *-other."""
    lower = label.lower()
    if lower in ("misc", "other", "miscellaneous") or lower.endswith("-other"):
        return True
    # MultiCoNER's OtherPER/OtherLOC/OtherPROD; Few-NERD's "other-award" is a real type.
    return label.startswith("Other") and label[5:6].isupper()


def load_label_lists(path: str | os.PathLike, what: str) -> dict[str, list[str]]:
    """A JSON map label -> non-empty list of strings (groups, wordings); errors name `what`
    and the file."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{what} file {os.fspath(path)}: {error}") from None
    if not isinstance(table, dict) or not table:
        raise ValueError(
            f"{what} file {os.fspath(path)}: expected a non-empty JSON object of lists"
        )
    for key, items in table.items():
        if not (isinstance(items, list) and items and all(isinstance(i, str) for i in items)):
            raise ValueError(
                f"{what} file {os.fspath(path)}: {key!r} needs a non-empty list of strings"
            )
    return table


def load_query_words(path: str | os.PathLike) -> dict[str, str]:
    """A flat JSON map label -> query words; errors name the file."""
    name = os.fspath(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"query words file not found: {name}")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{name}: invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a JSON object label -> words")
    for label, words in data.items():
        if not isinstance(words, str) or not words.strip():
            raise ValueError(f"{name}: label {label!r}: query words must be a non-empty string")
    return data


def build_benchmark(
    paths: Sequence[str | os.PathLike],
    query_words: Mapping[str, str] | None = None,
    catch_all_queries: bool = False,
) -> Benchmark:
    """Pool labelled files into deduplicated documents and one query per non-catch-all type
    (per type, catch-alls included, with `catch_all_queries`)."""
    if isinstance(paths, str | os.PathLike) or not paths:
        raise ValueError("build_benchmark needs a non-empty sequence of file paths")
    query_words = query_words or {}
    ids: list[str] = []
    texts: list[str] = []
    spans: list[set[Span]] = []
    index: dict[str, int] = {}  # sentence text -> document index
    for path in paths:
        name = os.fspath(path)
        for n, sentence in enumerate(read_labelled(path)):
            at = index.get(sentence.text)
            if at is None:
                at = index[sentence.text] = len(texts)
                ids.append(f"{name}:{n}")
                texts.append(sentence.text)
                spans.append(set())
            spans[at].update(sentence.spans)
    documents = tuple(
        Document(i, text, tuple(sorted(found, key=lambda s: (s.start, s.end, s.type))))
        for i, text, found in zip(ids, texts, spans, strict=True)
    )
    relevant: dict[str, list[int]] = {}
    for at, document in enumerate(documents):
        for kind in sorted({span.type for span in document.spans}):
            relevant.setdefault(kind, []).append(at)
    queries = tuple(
        Query(kind, query_words.get(kind) or natural_words(kind), tuple(relevant[kind]))
        for kind in sorted(relevant)
        if catch_all_queries or not is_catch_all(kind)
    )
    return Benchmark(documents, queries)
