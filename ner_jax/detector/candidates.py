"""Recall-first decoding: every token likely to end a mention, each with its likeliest start.

A mention's vector is read at its last token, so what retrieval needs from the detector is the
set of tokens that end a mention: a missed end makes a document unretrievable, an extra one only
adds a vector. Each real token t gets the probability that it ends a mention under the tagger's
per-token distributions, P(t is B or I) * P(the next real token is not I); every word-final
token at or above the operating point `threshold` ends one candidate span, started at the
word start where B-then-I's is most likely within MAX_SPAN_TOKENS. Candidates may overlap or
nest ("New York" and "New York Times"): each is a different vector. Threshold 0 keeps every
word (the detector-free end point); one Viterbi path is what `tags.decode` gives instead.
"""

from __future__ import annotations

import numpy as np

from ner_jax.detector.tags import B, I, O, token_chars

MAX_SPAN_TOKENS = 16  # longest candidate span, in real tokens
APOSTROPHES = "'\u2019"


def check_threshold(threshold: float | None, name: str = "detector_threshold") -> None:
    """An operating point is a probability (None: the detector's own); errors name `name`."""
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {threshold}")


def end_probabilities(log_probs: np.ndarray) -> np.ndarray:
    """[T] probability that each token ends a mention, from [T, 3] tag log-probabilities of a
    text's real tokens (in order)."""
    p = np.exp(np.asarray(log_probs, np.float64))
    inside = 1.0 - p[:, O]
    next_not_i = np.append(1.0 - p[1:, I], 1.0)  # the last token is followed by no I
    return np.clip(inside * next_not_i, 0.0, 1.0)


def best_starts(
    log_probs: np.ndarray, max_tokens: int = MAX_SPAN_TOKENS, can_start: np.ndarray | None = None
) -> np.ndarray:
    """[T] for a span ending at each real token, its likeliest first token s: the argmax of
    log P(B at s) + sum log P(I at s+1..t), with t - s < max_tokens and s a token that
    `can_start` allows (default: any; a token that allows none starts its own span)."""
    log_probs = np.asarray(log_probs, np.float64)
    length = len(log_probs)
    allowed = np.ones(length, bool) if can_start is None else np.asarray(can_start, bool)
    inner = np.concatenate([[0.0], np.cumsum(log_probs[:, I])])  # inner[t] = sum of I's before t
    ends = np.arange(length)[:, None]  # [T, 1]
    starts = ends - np.arange(max_tokens)[None, :]  # [T, L]: t, t - 1, ..
    at = np.maximum(starts, 0)
    valid = (starts >= 0) & allowed[at]  # a row with none valid picks column 0: t itself
    # B at s, then I at s+1 .. t: inner[t + 1] - inner[s + 1]
    scores = log_probs[at, B] + inner[ends + 1] - inner[at + 1]  # [T, L]
    best = np.where(valid, scores, -np.inf).argmax(axis=1)  # ties: the shortest span
    return at[np.arange(length), best]


def candidate_spans(
    text: str, offsets: np.ndarray, log_probs: np.ndarray, threshold: float
) -> list[tuple[int, int]]:
    """Character spans of every word-final token whose end probability is >= threshold, each
    from its likeliest start; sorted, one per end token. `log_probs`: [T, 3], every token."""
    check_threshold(threshold, "threshold")
    chars = token_chars(text, offsets)
    real = np.flatnonzero(chars[:, 1] > chars[:, 0])
    if not len(real):
        return []
    scores = np.asarray(log_probs)[real]
    # A span ends where a word does: a sub-token inside a word ("Obam|a") ends no mention, nor
    # does a possessive "'s" (a name ends before it). It starts where a word does, and a word
    # goes on after an apostrophe between letters ("O'Brien" starts at "O").
    word_end = np.array([_ends_word(text, e) for e in chars[real, 1]], bool)
    word_start = np.array([_starts_word(text, s) for s in chars[real, 0]], bool)
    ends = np.flatnonzero((end_probabilities(scores) >= threshold) & word_end)
    starts = best_starts(scores, can_start=word_start)[ends]
    first, last = chars[real[starts], 0], chars[real[ends], 1]
    return sorted({(int(s), int(e)) for s, e in zip(first, last, strict=True)})


def _ends_word(text: str, end: int) -> bool:
    """Whether a token ending at character `end` ends a word that a name can end with."""
    return not text[end : end + 1].isalnum() and not _possessive(text, end)


def _starts_word(text: str, start: int) -> bool:
    """Whether a token at character `start` begins a word."""
    after_word = start > 0 and text[start - 1].isalnum()
    return not after_word and not _after_inner_apostrophe(text, start)


def _after_inner_apostrophe(text: str, start: int) -> bool:
    return start >= 2 and text[start - 1] in APOSTROPHES and text[start - 2].isalnum()


def _possessive(text: str, end: int) -> bool:
    """Whether the word ending at character `end` is the "s" of a possessive "'s"."""
    start = end
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    return text[start:end].lower() == "s" and _after_inner_apostrophe(text, start)
