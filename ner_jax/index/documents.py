"""Documents to index, read from plain text, JSONL or labelled CoNLL files, with mention spans."""

# Formats (`read_documents(paths, fmt)`; "auto" goes by the extension, then by the content):
#
# * text: one document per non-empty line, id `FILE:LINE`; no spans (the detector finds them).
# * jsonl: one object per non-empty line: {"id": str (default `FILE:LINE`), "text": str,
#   "mentions": [[start, end], ...] character offsets (end exclusive), or [[surface, type], ...]
#   located in the text (a repeated surface takes the next occurrence)}; without "mentions" the
#   detector finds them.
# * conll: any labelled file `datasets.read_labelled` reads (CoNLL/BIO columns, and its labelled
#   JSONL formats, which "auto" recognises by their keys); the gold spans are the mentions and a
#   sentence's id is `FILE:LINE` of its first token (of its record in JSONL).

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ner_jax.data import json_object, read_labelled

FORMATS = ("auto", "text", "jsonl", "conll")
_CONLL_SUFFIXES = (".conll", ".bio", ".iob", ".iob2")
_TAG = re.compile(r"O|[BI]-\S+")


@dataclasses.dataclass(frozen=True)
class Document:
    id: str
    text: str
    spans: tuple[tuple[int, int], ...] | None  # sorted, unique character spans; None: undetected


class MentionsNeeded(ValueError):
    """Documents without mention spans, and no detector to find them (index.encoder)."""


def read_documents(paths: Sequence[str | os.PathLike], fmt: str = "auto") -> list[Document]:
    """All documents of the files, in order; ValueError naming file and line on bad input."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    documents: list[Document] = []
    for path in paths:
        name = os.fspath(path)
        lines = _lines(name)
        kind = _sniff(name, lines) if fmt == "auto" else fmt
        if kind == "conll":
            documents += [
                Document(f"{name}:{s.line}", s.text, _unique((p.start, p.end) for p in s.spans))
                for s in read_labelled(path)
            ]
        else:
            read = _jsonl_document if kind == "jsonl" else _text_document
            documents += [read(line, f"{name}:{n}") for n, line in lines if line.strip()]
    check_unique_ids(documents)
    return documents


def check_unique_ids(documents: Sequence[Document], taken: Sequence[str] = ()) -> None:
    """Raises ValueError naming document ids that repeat, or that are already in `taken`."""
    seen, repeated = set(taken), []
    for d in documents:
        if d.id in seen:
            repeated.append(d.id)
        seen.add(d.id)
    if repeated:
        shown = ", ".join(repr(i) for i in repeated[:5]) + (", ..." if len(repeated) > 5 else "")
        where = "already in the index or repeated" if taken else "repeated"
        raise ValueError(f"{len(repeated)} document id(s) {where}: {shown}")


def _lines(name: str) -> list[tuple[int, str]]:
    """(1-based number, line) of a UTF-8 file split on "\\n" only; errors name file and line."""
    if not Path(name).is_file():
        raise FileNotFoundError(f"input file not found: {name}")
    raw = Path(name).read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n")
    lines = []
    for number, data in enumerate(raw, 1):
        try:
            lines.append((number, data.decode("utf-8").removesuffix("\r")))
        except UnicodeDecodeError as error:
            raise ValueError(f"{name}:{number}: not UTF-8 text ({error})") from None
    if not any(line.strip() for _, line in lines):
        raise ValueError(f"{name}: empty file, no documents")
    return lines


def _sniff(name: str, lines: list[tuple[int, str]]) -> str:
    """jsonl / conll by extension, else by the first non-empty lines; text otherwise."""
    if name.endswith(_CONLL_SUFFIXES):
        return "conll"
    sample = [line for _, line in lines if line.strip()][:50]
    if name.endswith(".jsonl") or sample[0].lstrip().startswith("{"):
        try:
            first = json.loads(sample[0])
        except json.JSONDecodeError:
            return "jsonl"  # its reader names the bad line
        # Labelled JSONL (this project's `spans`, NERetrieve's `tagged_entities`): gold spans.
        labelled = isinstance(first, dict) and {"spans", "tagged_entities"} & first.keys()
        return "conll" if labelled and "mentions" not in first else "jsonl"
    rows = [line.split("\t") if "\t" in line else line.split() for line in sample]
    # Token-tag lines: 2 or 4 columns, and some tag that only a tagger writes (O, B-X, I-X).
    if all(len(r) in (2, 4) for r in rows) and any(_TAG.fullmatch(r[-1]) for r in rows):
        return "conll"
    return "text"


def _text_document(line: str, where: str) -> Document:
    return Document(where, line, None)


def _jsonl_document(line: str, where: str) -> Document:
    record = json_object(line, where)
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        problem = "no 'text'" if "text" not in record else "'text' must be a non-empty string"
        raise ValueError(f"{where}: {problem} (keys: {sorted(record)})")
    doc_id = record.get("id", where)
    if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or doc_id == "":
        raise ValueError(f"{where}: 'id' must be a non-empty string or an integer")
    mentions = record.get("mentions")
    if mentions is None:
        return Document(str(doc_id), text, None)
    if not isinstance(mentions, list):
        raise ValueError(f"{where}: 'mentions' must be a list of [start, end] or [surface, type]")
    spans, after = [], {}  # after[surface]: where to look for its next occurrence
    for i, mention in enumerate(mentions):
        if not (isinstance(mention, list) and len(mention) == 2):
            raise ValueError(f"{where}: mention {i} must be [start, end] or [surface, type]")
        first, second = mention
        if isinstance(first, str) and isinstance(second, str) and first:
            start = text.find(first, after.get(first, 0))
            if start < 0:
                raise ValueError(f"{where}: mention {i} {first!r} does not occur in the text")
            after[first] = start + len(first)
            spans.append((start, start + len(first)))
        elif _is_int(first) and _is_int(second):
            spans.append((first, second))
        else:
            raise ValueError(f"{where}: mention {i} must be [start, end] or [surface, type]")
    return Document(str(doc_id), text, _checked(Document(where, text, None), spans))


def _checked(document: Document, spans) -> tuple[tuple[int, int], ...]:
    spans = _unique(spans)
    for start, end in spans:
        if not (_is_int(start) and _is_int(end) and 0 <= start < end <= len(document.text)):
            raise ValueError(
                f"{document.id}: mention span [{start}, {end}) is not inside the text "
                f"(length {len(document.text)})"
            )
    return spans


def _unique(spans) -> tuple[tuple[int, int], ...]:
    return tuple(sorted({(s, e) for s, e in spans}))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
