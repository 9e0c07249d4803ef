"""Token batches for the decoder: texts packed into rows of a few bucketed lengths.

A row holds several texts as segments 1, 2, ... (0 is padding); the decoder's mask keeps each
text to itself and its positions count from 0 per segment, so a text's activations do not
depend on its row-mates. Packing short texts together cuts the padding that one text per
length-bucketed row leaves (15% of the tokens computed on CrossNER) to a few percent.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

# Rows of texts shorter than this are this long: the attention over a packed row grows with its
# length (at 128, about 3% of a Gemma block's FLOPs are masked-out attention), while shorter
# rows leave more space that no remaining text fits.
PACKED_ROW = 128
# The shortest row. A query is read alone, and at this size its pass streams the weights more
# than it computes, so a longer row costs a query time for nothing (docs/performance.md).
SHORTEST_ROW = 4


def bucket(n: int, minimum: int) -> int:
    """Smallest 2^k or 1.5 * 2^k >= n (at least `minimum`): each bucket is one jit shape.

    Half steps cap padding at a third (power-of-two buckets waste up to half) for about twice
    as many shapes to compile."""
    power = 1 << max(n - 1, 0).bit_length()
    size = power * 3 // 4 if power >= 4 and power * 3 // 4 >= n else power
    return max(minimum, size)


@dataclasses.dataclass(frozen=True)
class Batch:
    texts: int  # texts in the batch
    tokens: np.ndarray  # [B, T] int32
    segments: np.ndarray  # [B, T] int32: 1, 2, ... per text in the row, 0 = padding
    cols: np.ndarray  # [B, S] row position of each read token (0 for empty slots)
    mentions: np.ndarray  # [B, S] output row per slot, -1 for empty slots


def pack_rows(lengths: Sequence[int], row_length: int = PACKED_ROW) -> list[tuple[int, list[int]]]:
    """(length, texts) rows: longest text first, each into the open row it fills best, else a
    new row of max(bucket(n), row_length) tokens. Texts of a row are in input order."""
    rows: list[tuple[int, list[int]]] = []
    free: list[tuple[int, int]] = []  # (space left, row) sorted, for best fit by bisection
    for text in sorted(range(len(lengths)), key=lambda t: (-lengths[t], t)):
        n = lengths[text]
        at = bisect.bisect_left(free, (n, -1))
        if at < len(free):
            space, row = free.pop(at)
        else:
            row, space = len(rows), max(bucket(n, SHORTEST_ROW), row_length)
            rows.append((space, []))
        rows[row][1].append(text)
        if space - n:
            bisect.insort(free, (space - n, row))
    return [(length, sorted(texts)) for length, texts in rows]


def plan_batches(
    ids: Sequence[np.ndarray],
    cols: Sequence[np.ndarray],
    mention_ids: Sequence[np.ndarray],
    pad_id: int,
    token_budget: int,
    rows_multiple: int,
) -> Iterator[Batch]:
    """Packed batches of about `token_budget` tokens; rows a multiple of `rows_multiple`.

    Text d's tokens cols[d] are read into output rows mention_ids[d]."""
    by_length: dict[int, list[list[int]]] = {}
    lengths = [len(i) for i in ids]
    # A few short texts (a query) get rows of their own size, not PACKED_ROW tokens of filler.
    row_length = min(PACKED_ROW, bucket(sum(lengths), SHORTEST_ROW))
    for length, texts in pack_rows(lengths, row_length):
        by_length.setdefault(length, []).append(texts)
    for length in sorted(by_length):
        rows_of_texts = by_length[length]
        most = max(rows_multiple, token_budget // length // rows_multiple * rows_multiple)
        first = 0
        while first < len(rows_of_texts):
            # The last few rows of this length: a smaller bucketed batch, not filler rows.
            left = len(rows_of_texts) - first
            rows = min(most, -(-bucket(left, 1) // rows_multiple) * rows_multiple)
            chunk = rows_of_texts[first : first + rows]
            first += len(chunk)
            slots = bucket(max(sum(len(cols[d]) for d in texts) for texts in chunk), 4)
            batch = Batch(
                texts=sum(map(len, chunk)),
                tokens=np.full((rows, length), pad_id, np.int32),
                segments=np.zeros((rows, length), np.int32),
                cols=np.zeros((rows, slots), np.int32),
                mentions=np.full((rows, slots), -1, np.int64),
            )
            for row, texts in enumerate(chunk):
                at = slot = 0
                for segment, d in enumerate(texts, 1):
                    n, m = len(ids[d]), len(cols[d])
                    batch.tokens[row, at : at + n] = ids[d]
                    batch.segments[row, at : at + n] = segment
                    batch.cols[row, slot : slot + m] = np.asarray(cols[d]) + at
                    batch.mentions[row, slot : slot + m] = mention_ids[d]
                    at, slot = at + n, slot + m
            yield batch
