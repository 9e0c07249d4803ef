"""Token tags (O, B, I) for mention spans, their constrained decoding, and span precision/recall.

A token's characters are its offsets minus leading whitespace (subword vocabularies glue the
preceding space to a word: " Obama" is (6, 12) for "Obama" at 7). A span is tagged on every
token whose characters overlap it: B on the first, I on the rest. Decoding is Viterbi over the
tag log-probabilities with the one constraint of the scheme (I only after B or I), and a
decoded span runs from its first token's first character to its last token's end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

O, B, I = 0, 1, 2  # noqa: E741 (the scheme's own letters)
_ALLOWED = np.array(  # [from, to]: I never follows O (nor starts a text)
    [[True, True, False], [True, True, True], [True, True, True]]
)


def token_chars(text: str, offsets: np.ndarray) -> np.ndarray:
    """[T, 2] each token's characters without leading whitespace; (0, 0) for special tokens and
    tokens that are only whitespace."""
    offsets = np.asarray(offsets).reshape(-1, 2)
    out = np.zeros_like(offsets)
    for t, (start, end) in enumerate(offsets):
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            out[t] = start, end
    return out


def token_tags(text: str, offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """[T] int32 tags of the spans over the tokens (a token in two spans goes to the first)."""
    chars = token_chars(text, offsets)
    real = chars[:, 1] > chars[:, 0]
    tags = np.full(len(chars), O, np.int32)
    for start, end in sorted(spans):
        inside = np.flatnonzero(real & (chars[:, 0] < end) & (chars[:, 1] > start))
        inside = inside[tags[inside] == O]
        if len(inside):
            tags[inside] = I
            tags[inside[0]] = B
    return tags


def viterbi(log_probs: np.ndarray, real: np.ndarray) -> np.ndarray:
    """[T] best allowed tag path for [T, 3] log-probabilities; tokens not `real` are O."""
    scores = np.where(real[:, None], log_probs, np.array([0.0, -np.inf, -np.inf]))
    transition = np.where(_ALLOWED, 0.0, -np.inf)  # [3, 3]
    best = np.where(_ALLOWED[O], scores[0], -np.inf) if len(scores) else scores
    back = np.zeros(scores.shape, np.int32)
    for t in range(1, len(scores)):
        total = best[:, None] + transition  # [from, to]
        back[t] = total.argmax(axis=0)
        best = total.max(axis=0) + scores[t]
    path = np.zeros(len(scores), np.int32)
    if len(scores):
        path[-1] = best.argmax()
        for t in range(len(scores) - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
    return path


def tag_spans(text: str, offsets: np.ndarray, tags: np.ndarray) -> list[tuple[int, int]]:
    """Character spans of a valid tag path (B, then any I, on real tokens)."""
    return _spans(token_chars(text, offsets), tags)


def _spans(chars: np.ndarray, tags: np.ndarray) -> list[tuple[int, int]]:
    spans, start, end = [], None, None
    for t, tag in enumerate(tags):
        real = chars[t, 1] > chars[t, 0]
        if start is not None and (tag != I or not real):
            spans.append((start, end))
            start = None
        if tag == B and real:
            start, end = int(chars[t, 0]), int(chars[t, 1])
        elif tag == I and start is not None:
            end = int(chars[t, 1])
    if start is not None:
        spans.append((start, end))
    return spans


def decode(text: str, offsets: np.ndarray, log_probs: np.ndarray) -> list[tuple[int, int]]:
    """Mention spans of a text from its tokens' [T, 3] tag log-probabilities."""
    chars = token_chars(text, offsets)
    return _spans(chars, viterbi(log_probs, chars[:, 1] > chars[:, 0]))


def span_scores(
    predicted: Sequence[Sequence[tuple[int, int]]], gold: Sequence[Sequence[tuple[int, int]]]
) -> dict[str, float]:
    """Exact-match span precision, recall and F1 over texts, the recall of gold mention ends,
    and the counts."""
    found = sum(len(set(p)) for p in predicted)
    wanted = sum(len(set(g)) for g in gold)
    right = sum(len(set(p) & set(g)) for p, g in zip(predicted, gold, strict=True))
    # A mention's vector is read at its last token: a gold mention whose end some found span
    # shares is retrievable even when the found span starts elsewhere.
    ends = sum(
        len({e for _, e in set(g)} & {e for _, e in p})
        for p, g in zip(predicted, gold, strict=True)
    )
    precision = right / found if found else 0.0
    recall = right / wanted if wanted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    end_recall = ends / wanted if wanted else 0.0
    return dict(
        precision=precision,
        recall=recall,
        f1=f1,
        end_recall=end_recall,
        predicted=found,
        gold=wanted,
    )
