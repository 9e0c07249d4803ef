"""Labelled NER readers (CoNLL BIO, MultiCoNER, Few-NERD IO, NERetrieve JSONL) to char spans."""

# Accepted formats, detected from the file (a file must keep to one of them):
#
# * Columns, blank line between sentences; `-DOCSTART-` and MultiCoNER `# id ...` lines also end a
#   sentence. Two columns `token tag` (CrossNER, WNUT: tab- or space-separated) or four
#   `token _ _ tag` (MultiCoNER; CoNLL-2003's `token POS chunk tag` fits too). Tags are either
#   - BIO/IOB2: `O`, `B-X`, `I-X`; an `I-X` that does not continue an X span starts one (IOB1);
#   - Few-NERD IO: `O` or a bare type (`person-actor`); a run of one type is one span, so two
#     adjacent entities of the same type merge (IO cannot tell them apart).
#   Text is the tokens joined by single spaces.
# * JSONL (`.jsonl`, or a first line that is a JSON object), one record per line, either
#   - generic (this project's): {"text": str, "spans": [{"start": int, "end": int, "type": str}]}
#     with character offsets, end exclusive;
#   - NERetrieve (katzurik/NERetrieve, `NERetrive_sup_{train,test}.jsonl`; its READMEs give no
#     schema, so it is taken from readers of those files): {"id", "content": str,
#     "document_token_sequence": [str], "tagged_entities": {type: {entity id: {mention: [[token
#     index, ...], ...]}}}, ...}. A reference is a list of token indices (first..last, or just
#     [start, end]); min..max is the mention. An empty reference has no offsets: the mention
#     string is then located in the text (first case-sensitive, else case-insensitive match).
#     Without `document_token_sequence`, tokens are the whitespace-separated words of `content`.
#     NERetrieve IR label files (`NERetrive_IR_*.jsonl`) hold no text: join them with the
#     corpus file by "id" first.

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

_HEADER = re.compile(r"# id\s|-DOCSTART-(\s|$)")  # sentence boundaries that carry no tokens
_PREFIXED = re.compile(r"[A-Za-z]-.*")  # a BIO-style tag, valid or not


@dataclasses.dataclass(frozen=True)
class Span:
    start: int  # character offsets into the sentence text, end exclusive
    end: int
    type: str


@dataclasses.dataclass(frozen=True)
class Sentence:
    text: str
    spans: tuple[Span, ...]  # sorted by (start, end, type)
    line: int  # 1-based line of its first token (JSONL: of its record), for messages and ids


def read_labelled(path: str | os.PathLike) -> list[Sentence]:
    """All sentences of a labelled file; raises ValueError naming file and line on bad input."""
    name = os.fspath(path)  # messages name the file as the caller gave it
    if not Path(path).is_file():
        raise FileNotFoundError(f"labelled data file not found: {name}")
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as error:
        raise ValueError(f"{name}: not UTF-8 text ({error})") from None
    # Split on "\n" only: str.splitlines would also break tokens holding U+2028, U+0085, ...
    lines = [line.removesuffix("\r") for line in lines]
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise ValueError(f"{name}: empty file, no sentences")
    jsonl = name.endswith(".jsonl") or _is_json_object(first)
    sentences = _read_jsonl(name, lines) if jsonl else _read_columns(name, lines)
    if not sentences:
        raise ValueError(f"{name}: no sentences")
    return sentences


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _sorted_spans(spans) -> tuple[Span, ...]:
    return tuple(sorted(set(spans), key=lambda s: (s.start, s.end, s.type)))


# --- column formats ----------------------------------------------------------------------------


def _read_columns(name: str, lines: list[str]) -> list[Sentence]:
    sentences, rows = [], []  # rows: (token, tag, line) of the sentence being read
    columns = scheme = None  # the first token line's column count, the first non-O tag's scheme
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip(" \t")
        if not line.strip() or _HEADER.match(line):
            if rows:
                sentences.append(_decode(rows))
                rows = []
            continue
        parts = line.split("\t") if "\t" in line else re.split(" +", line)
        if len(parts) not in (2, 4):
            raise ValueError(
                f"{name}:{number}: {len(parts)} columns; "
                "expected 'token<TAB>tag' or 'token _ _ tag'"
            )
        if columns is not None and len(parts) != columns:
            raise ValueError(
                f"{name}:{number}: {len(parts)} columns where earlier lines have {columns}: "
                "the file mixes formats"
            )
        columns = len(parts)
        token, tag = parts[0], parts[-1]
        if not token or not tag:
            raise ValueError(f"{name}:{number}: empty token or tag")
        kind = _tag_scheme(tag, f"{name}:{number}")
        if kind is not None and scheme is not None and kind != scheme:
            raise ValueError(
                f"{name}:{number}: {kind} tag {tag!r} in a file of {scheme} tags: "
                "the file mixes formats"
            )
        scheme = scheme or kind
        rows.append((token, tag, number))
    if rows:
        sentences.append(_decode(rows))
    return sentences


def _tag_scheme(tag: str, where: str) -> str | None:
    """'BIO' for B-X/I-X, 'IO' for a bare Few-NERD type, None for O; rejects other prefixes."""
    if tag == "O":
        return None
    if _PREFIXED.fullmatch(tag):
        if tag[:2] not in ("B-", "I-") or len(tag) < 3:
            raise ValueError(f"{where}: bad tag {tag!r}: expected O, B-TYPE or I-TYPE")
        return "BIO"
    return "IO"


def _decode(rows: list[tuple[str, str, int]]) -> Sentence:
    spans, offset = [], 0
    current: list | None = None  # [start, end, type] of the open span
    for token, tag, _ in rows:
        start, offset = offset, offset + len(token)
        if tag == "O":
            kind, begins = None, True
        elif tag[:2] in ("B-", "I-") and _PREFIXED.fullmatch(tag):
            kind, begins = tag[2:], tag[0] == "B"
        else:  # IO: the bare tag is the type
            kind, begins = tag, False
        if current is not None and not begins and current[2] == kind:
            current[1] = offset
        else:
            if current is not None:
                spans.append(Span(*current))
            current = [start, offset, kind] if kind is not None else None
        offset += 1  # the joining space
    if current is not None:
        spans.append(Span(*current))
    text = " ".join(token for token, _, _ in rows)
    return Sentence(text, _sorted_spans(spans), rows[0][2])


# --- JSONL -------------------------------------------------------------------------------------


def json_object(line: str, where: str) -> dict:
    """One JSONL line as a dict; errors name `where` (FILE:LINE)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: invalid JSON: {error}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    return record


def _read_jsonl(name: str, lines: list[str]) -> list[Sentence]:
    sentences, schema = [], None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        record = json_object(line, where)
        if "tagged_entities" in record:
            kind, reader = "NERetrieve", _neretrieve
        elif "text" in record and "spans" in record:
            kind, reader = "generic", _generic
        else:
            raise ValueError(
                f"{where}: expected 'text' and 'spans' or NERetrieve 'tagged_entities'; "
                f"keys are {sorted(record)}"
            )
        if schema is not None and kind != schema:
            raise ValueError(f"{where}: {kind} record after {schema} ones: the file mixes formats")
        schema = kind
        text, spans = reader(record, where)
        if not text:
            raise ValueError(f"{where}: empty text")
        sentences.append(Sentence(text, _sorted_spans(spans), number))
    return sentences


def _generic(record: dict, where: str) -> tuple[str, list[Span]]:
    text, items = record["text"], record["spans"]
    if not isinstance(text, str) or not isinstance(items, list):
        raise ValueError(f"{where}: 'text' must be a string and 'spans' a list")
    spans = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not {"start", "end", "type"} <= item.keys():
            raise ValueError(f"{where}: span {i} needs 'start', 'end' and 'type'")
        start, end, kind = item["start"], item["end"], item["type"]
        if not (_is_int(start) and _is_int(end) and isinstance(kind, str) and kind):
            raise ValueError(f"{where}: span {i} needs integer offsets and a non-empty type")
        if not 0 <= start < end <= len(text):
            raise ValueError(f"{where}: span {i} [{start}, {end}) out of range for the text")
        spans.append(Span(start, end, kind))
    return text, spans


def _neretrieve(record: dict, where: str) -> tuple[str, list[Span]]:
    content, offsets = _neretrieve_tokens(record, where)
    spans = []
    for kind, mention, ref in _tagged_references(record["tagged_entities"], where):
        span = _reference(ref, mention, content, offsets, f"{where}: {kind}/{mention!r}")
        spans.append(Span(*span, kind))
    return content, spans


def _neretrieve_tokens(record: dict, where: str) -> tuple[str, list[tuple[int, int]]]:
    """The record's text and the character offsets of each of its tokens."""
    content, tokens = record.get("content"), record.get("document_token_sequence")
    if content is None and tokens is None:
        raise ValueError(
            f"{where}: NERetrieve record without 'content' or 'document_token_sequence' "
            "(IR label files hold no text: join them with the corpus file by 'id')"
        )
    if tokens is not None and not (
        isinstance(tokens, list) and all(isinstance(t, str) and t for t in tokens)
    ):
        raise ValueError(f"{where}: 'document_token_sequence' must be a list of non-empty strings")
    if content is not None and not isinstance(content, str):
        raise ValueError(f"{where}: 'content' must be a string")
    if content is None:
        content = " ".join(tokens)
    if tokens is None:
        return content, [m.span() for m in re.finditer(r"\S+", content)]
    return content, _token_offsets(tokens, content, where)


def _token_offsets(tokens: list[str], content: str, where: str) -> list[tuple[int, int]]:
    # Tokens sit in the content in order, whatever whitespace separates them.
    offsets, position = [], 0
    for i, token in enumerate(tokens):
        start = content.find(token, position)
        if start < 0:
            raise ValueError(f"{where}: token {i} {token!r} not found in 'content'")
        position = start + len(token)
        offsets.append((start, position))
    return offsets


def _tagged_references(tagged, where: str):
    """(type, mention, reference) of every annotation, checking the nesting on the way;
    lazily, so a bad annotation is reported in file order among the references' own errors."""
    if not isinstance(tagged, dict):
        raise ValueError(f"{where}: 'tagged_entities' must be an object")
    for kind, entities in tagged.items():
        if not kind or not isinstance(entities, dict):
            raise ValueError(f"{where}: type {kind!r}: expected {{entity id: {{mention: refs}}}}")
        for entity, mentions in entities.items():
            if not isinstance(mentions, dict):
                raise ValueError(f"{where}: {kind}/{entity}: expected {{mention: [references]}}")
            for mention, references in mentions.items():
                if not isinstance(references, list):
                    raise ValueError(f"{where}: {kind}/{mention!r}: references must be a list")
                for ref in references:
                    yield kind, mention, ref


def _reference(ref, mention: str, text: str, offsets: list, where: str) -> tuple[int, int]:
    if not isinstance(ref, list) or not all(_is_int(i) for i in ref):
        raise ValueError(f"{where}: a reference must be a list of token indices, got {ref!r}")
    if ref:
        first, last = min(ref), max(ref)
        if first < 0 or last >= len(offsets):
            raise ValueError(f"{where}: token index out of range 0..{len(offsets) - 1}: {ref}")
        return offsets[first][0], offsets[last][1]
    # No offsets given: locate the mention string itself rather than drop the annotation.
    found = re.search(re.escape(mention), text) or re.search(re.escape(mention), text, re.I)
    if not mention or found is None:
        raise ValueError(f"{where}: no token indices, and the mention does not occur in the text")
    return found.span()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
