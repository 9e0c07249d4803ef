"""Overlapping character windows on token boundaries for documents longer than the model context."""

# A document whose tokens fit is one window, the whole text. A longer one is cut into windows of
# `size` tokens every `size // 2` tokens (the last window ends at the last token), and each
# mention is read in the window where it has the most left context: the earliest window holding
# all its tokens, so at least about half a window of left context (or everything before it) when
# it is not at the document's start. Only windows that read a mention are returned.
#
# A document without spans is read whole instead (cover_windows): every window of the same grid,
# each keeping the spans the detector finds in the part of it it owns.

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Window:
    start: int  # character offsets into the document, end exclusive
    end: int
    mentions: tuple[int, ...]  # indices into the document's spans, in order


def window_size(max_real: int) -> int:
    """Tokens per window when `max_real` real tokens fit in the context.

    A window is re-tokenised on its own, which can change the tokens at its cut (a word split
    differently, a sentencepiece space marker added): a small margin keeps it inside the limit.
    """
    return max(1, max_real - min(8, max_real // 8))


def plan_windows(
    text: str, offsets: np.ndarray, spans: Sequence[tuple[int, int]], max_real: int
) -> tuple[list[Window], list[int]]:
    """(windows, indices of spans no window can hold) for a document.

    offsets [T, 2]: character offsets of the whole document's tokens ((0, 0) marks special
    tokens, which are not counted); max_real: real tokens that fit in one encoding.
    """
    offsets = np.asarray(offsets).reshape(-1, 2)
    real = offsets[offsets[:, 1] > offsets[:, 0]]  # [n, 2]
    n = len(real)
    if n <= max_real:
        return ([Window(0, len(text), tuple(range(len(spans))))] if len(spans) else []), []
    size = window_size(max_real)
    starts, ends = real[:, 0], real[:, 1]
    grid = list(range(0, n - size + 1, max(1, size // 2)))
    if grid[-1] + size < n:
        grid.append(n - size)
    chosen: dict[int, list[int]] = {}  # first token of a window -> its mentions
    dropped = []
    for i, (start, end) in enumerate(spans):
        first = int(np.searchsorted(ends, start, side="right"))  # first token ending after start
        last = int(np.searchsorted(starts, end, side="left")) - 1  # last token starting before end
        if last < first or last - first + 1 > size:
            dropped.append(i)  # no token of its own, or longer than a window
            continue
        k = bisect.bisect_left(grid, last - size + 1)  # earliest grid window reaching `last`
        # A mention longer than the overlap can straddle every grid window: give it its own.
        begin = grid[k] if k < len(grid) and grid[k] <= first else max(0, last - size + 1)
        chosen.setdefault(begin, []).append(i)
    windows = []
    for begin in sorted(chosen):
        stop = min(n, begin + size)
        mentions = chosen[begin]
        # Cut at the next token's start so trailing characters of a mention stay inside; a
        # mention's own start can sit before its first token (leading whitespace in the span).
        lo = 0 if begin == 0 else int(starts[begin])
        hi = len(text) if stop == n else int(starts[stop])
        lo = min([lo] + [spans[i][0] for i in mentions])
        hi = max([hi] + [spans[i][1] for i in mentions])
        windows.append(Window(lo, hi, tuple(mentions)))
    return windows, dropped


@dataclasses.dataclass(frozen=True)
class Cover:
    """A window of a document read whole, for mention detection; spans found in it are kept
    when they end inside (own_start, own_end]: each span is kept from one window only."""

    start: int  # character offsets into the document, end exclusive
    end: int
    own_start: int
    own_end: int


def cover_windows(text: str, offsets: np.ndarray, max_real: int) -> list[Cover]:
    """Windows covering the whole document (the grid of plan_windows), each owning the tokens
    from the middle of its overlap with the previous window to the middle of the next one, so
    a kept span has about a quarter window of context on either side."""
    offsets = np.asarray(offsets).reshape(-1, 2)
    real = offsets[offsets[:, 1] > offsets[:, 0]]  # [n, 2]
    n = len(real)
    if n <= max_real:
        return [Cover(0, len(text), -1, len(text))]
    size = window_size(max_real)
    starts = real[:, 0]
    grid = list(range(0, n - size + 1, max(1, size // 2)))
    if grid[-1] + size < n:
        grid.append(n - size)
    middles = [0] + [(grid[k] + grid[k - 1] + size) // 2 for k in range(1, len(grid))] + [n]
    covers = []
    for k, begin in enumerate(grid):
        stop = min(n, begin + size)
        first, last = middles[k], middles[k + 1]
        covers.append(
            Cover(
                0 if begin == 0 else int(starts[begin]),
                len(text) if stop == n else int(starts[stop]),
                -1 if k == 0 else int(starts[first]),
                len(text) if last == n else int(starts[last]),
            )
        )
    return covers
