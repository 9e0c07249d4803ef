"""BIO/IOB2 CoNLL readers (CrossNER `token<TAB>tag`, MultiCoNER `token _ _ tag`) to char spans."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Span:
    start: int  # character offsets into the sentence text, end exclusive
    end: int
    type: str


@dataclasses.dataclass(frozen=True)
class Sentence:
    text: str  # tokens joined by single spaces
    spans: tuple[Span, ...]
    line: int  # 1-based line of its first token, for error messages and ids


def read_conll(path: Path) -> list[Sentence]:
    """All sentences of a BIO/IOB2 file; raises ValueError naming file and line on bad input."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labelled data file not found: {path}")
    return list(_sentences(path))


def _sentences(path: Path) -> Iterator[Sentence]:
    rows: list[tuple[str, str, int]] = []
    with path.open(encoding="utf-8") as lines:
        for number, raw in enumerate(lines, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip() or line.startswith("# id ") or line.startswith("-DOCSTART-"):
                if rows:
                    yield _sentence(rows, path)
                    rows = []
                continue
            parts = line.split("\t") if "\t" in line else line.split(" ")
            if len(parts) < 2 or not parts[0]:
                raise ValueError(f"{path}:{number}: expected 'token<TAB>tag' or 'token _ _ tag'")
            rows.append((parts[0], parts[-1], number))
    if rows:
        yield _sentence(rows, path)


def _sentence(rows: list[tuple[str, str, int]], path: Path) -> Sentence:
    text, spans, offset = [], [], 0
    open_span: list | None = None  # [start, end, type]
    for token, tag, number in rows:
        if tag != "O" and (len(tag) < 3 or tag[:2] not in ("B-", "I-")):
            raise ValueError(f"{path}:{number}: tag {tag!r} is not O, B-TYPE or I-TYPE")
        start = offset
        offset += len(token)
        text.append(token)
        if tag.startswith("I-") and open_span is not None and open_span[2] == tag[2:]:
            open_span[1] = offset
        else:
            if open_span is not None:
                spans.append(Span(*open_span))
                open_span = None
            if tag != "O":  # B-, or an I- that starts a span (IOB1 style): both open one
                open_span = [start, offset, tag[2:]]
        offset += 1  # the joining space
    if open_span is not None:
        spans.append(Span(*open_span))
    return Sentence(" ".join(text), tuple(spans), rows[0][2])
