"""Windows over long documents: every token owned by exactly one window; mention plans."""

from __future__ import annotations

import numpy as np

from ner_jax.index.windows import Window, cover_windows, plan_windows, window_size


def test_cover_windows_own_every_token_once():
    text = " ".join("w" * (1 + i % 3) for i in range(100))
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
    offsets = np.array([[0, 0]] + [[s, s + 1 + i % 3] for i, s in enumerate(starts)])
    covers = cover_windows(text, offsets, max_real=10)
    size = window_size(10)
    assert covers[0].start == 0 and covers[-1].end == len(text)
    for token_end in offsets[1:, 1]:
        owners = [c for c in covers if c.own_start < token_end <= c.own_end]
        assert len(owners) == 1
        (owner,) = owners
        assert owner.start < token_end <= owner.end
        # A quarter window of context either side, except at the document's ends.
        assert len(text[owner.start : token_end].split()) >= min(size // 4, token_end // 4)
    assert cover_windows(text, offsets, max_real=100)[0].own_start == -1


def test_window_plan_edge_cases():
    text = " ".join("w" * (1 + i % 3) for i in range(100))  # 100 tokens of 1-3 characters
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
    offsets = np.array([[0, 0]] + [[s, text.find(" ", s) % (len(text) + 1)] for s in starts])
    offsets[-1, 1] = len(text)
    token = [(int(s), int(e)) for s, e in offsets[1:]]
    spans = [
        (token[2][0], token[2][1]),  # near the start: the first window
        (token[30][0], token[37][1]),  # 8 tokens straddling every grid window: its own window
        (token[60][1], token[61][0]),  # only the space between two tokens: no token of its own
        (token[70][0], token[85][1]),  # longer than a window: cannot be read
        (token[99][0], len(text)),  # the last token: the last window
    ]
    windows, dropped = plan_windows(text, offsets, spans, max_real=10)
    assert dropped == [2, 3] and window_size(10) == 9
    assert [w.mentions for w in windows] == [(0,), (1,), (4,)]
    assert (windows[0].start, windows[1].start) == (0, token[37 - 9 + 1][0])
    assert windows[-1].end == len(text) and windows[-1].start == token[100 - 9][0]
    for w in windows:
        (i,) = w.mentions
        assert w.start <= spans[i][0] < spans[i][1] <= w.end
    whole, none = plan_windows(text, offsets, spans, max_real=100)
    assert whole == [Window(0, len(text), (0, 1, 2, 3, 4))] and none == []
