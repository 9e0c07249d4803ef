"""Where a type description is read: its last token, and the end of its head phrase."""

from __future__ import annotations

import re
from collections.abc import Sequence

READINGS = ("last", "head")  # where a description can be read (FeatureExtractor.embed_queries)

# Words that open an English noun phrase's post-modifier: prepositions, relative words and the
# participles descriptions use ("castle in Scotland", "probe launched by NASA", "club that won").
POST_MODIFIERS = frozenset(
    """
    about after against along among around at before behind below between beyond by during
    except for from in inside into like near of off on onto outside over since through
    throughout to toward towards under until with within without
    that which who whom whose where when
    based born built called caused composed created designed developed directed discovered
    founded invented known launched located made named owned painted played produced published
    released set situated sung used written
    """.split()
)
_WORD = re.compile(r"\S+")


def head_phrase_end(description: str) -> int:
    """Character offset where the description's head phrase ends: before its first
    post-modifier word ("castle in Scotland" -> the end of "castle"; "Italian painter" -> the
    end of the text). A decoder reads causally, so the activation at that offset has seen the
    head phrase alone: the kind of entity, without the attribute."""
    words = list(_WORD.finditer(description))
    for previous, word in zip(words, words[1:], strict=False):
        if word.group().lower().strip(",;:") in POST_MODIFIERS:
            return previous.end()
    return len(description.rstrip())


def query_spans(
    texts: Sequence[str], template: str, at: Sequence[str]
) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Each description written into `template`, and its spans to read at each position of
    `at` (READINGS: "last", its last token; "head", the end of its head phrase)."""
    if unknown := set(at) - set(READINGS):
        raise ValueError(f"unknown query positions {sorted(unknown)}; known: {READINGS}")
    before = template.split("{}", 1)[0]  # what the template writes before the description
    written = [template.format(t) for t in texts]
    spans = [
        [(0, len(w)) if p == "last" else (0, len(before) + head_phrase_end(t)) for p in at]
        for t, w in zip(texts, written, strict=True)
    ]
    return written, spans
