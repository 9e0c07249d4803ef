"""A sharded corpus index: complete shard indexes under one directory, searched as one index."""

# DIR/ holds `shard-KKKKK-of-NNNNN/` (each a normal corpus index of a contiguous slice of the
# documents) and `shards.json` (shard names, counts and manifest generations, the encoder
# record), written last. Global document and mention rows are shard order, then local order:
# exactly the rows a single index of all the documents would have.

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ner_jax.files import atomic
from ner_jax.index.build import STORE, VECTORS, read_meta
from ner_jax.index.record import EncoderMismatch, EncoderRecord
from ner_jax.index.store import ClosedOnExit, Store
from ner_jax.index.vectors import VectorIndex, load_index

SHARDS, FORMAT = "shards.json", 1
SHARD_NAME = re.compile(r"shard-\d{5}-of-\d{5}")


def shard_name(shard: int, count: int) -> str:
    return f"shard-{shard:05d}-of-{count:05d}"


def shard_slice(n: int, shard: int, count: int) -> slice:
    """Shard `shard` of `count` of n items: contiguous, sizes differing by at most one."""
    return slice(shard * n // count, (shard + 1) * n // count)


def is_sharded(directory: str | Path) -> bool:
    return (Path(directory) / SHARDS).is_file()


def check_same_encoder(
    reference: EncoderRecord, record: EncoderRecord, where: str, reference_where: str
) -> None:
    """Raises EncoderMismatch naming both shards unless the records are the same encoder (==;
    where each host found the head and detector files may differ)."""
    if record != reference:
        raise EncoderMismatch(
            f"{where} was built with {record.describe()}, but {reference_where} with "
            f"{reference.describe()} (they differ in {', '.join(record.differences(reference))}):"
            " shards of different encoders cannot be searched together; rebuild the index with "
            "one encoder"
        )


def write_shards_manifest(directory: str | Path, names: Sequence[str]) -> dict:
    """Checks the complete shards agree on their encoder, then writes `shards.json`; it."""
    directory = Path(directory)
    metas = [read_meta(directory / name) for name in names]
    for name, (record, _) in zip(names, metas, strict=True):
        check_same_encoder(metas[0][0], record, f"shard {name}", f"shard {names[0]}")
    shards = [
        {k: m[k] for k in ("documents", "mentions", "generation", "vector_backend")}
        for _, m in metas
    ]
    manifest = {
        "format": FORMAT,
        "shards": [{"directory": n, **s} for n, s in zip(names, shards, strict=True)],
        "documents": sum(s["documents"] for s in shards),
        "mentions": sum(s["mentions"] for s in shards),
        "encoder": metas[0][0].to_json(),
    }
    atomic.write_text(directory / SHARDS, json.dumps(manifest, indent=1) + "\n")
    return manifest


def open_sharded(directory: str | Path) -> tuple[EncoderRecord, ShardedVectorIndex, ShardedStore]:
    """(encoder record, vector index, store) of a sharded index, each shard checked against
    `shards.json`: complete, the same build, the same encoder."""
    directory = Path(directory)
    manifest = json.loads((directory / SHARDS).read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{directory}: {SHARDS} format {manifest.get('format')}, not {FORMAT}")
    record = EncoderRecord.from_json(manifest["encoder"], directory / SHARDS)
    indexes, stores = [], []
    with contextlib.ExitStack() as opened:  # closes the stores opened so far if a shard fails
        for shard in manifest["shards"]:
            path = directory / shard["directory"]
            shard_record, shard_manifest = read_meta(path)
            if shard_manifest["generation"] != shard["generation"]:
                raise ValueError(
                    f"shard {path} is not the one {directory / SHARDS} lists (it was rebuilt "
                    "since): a sharded build is running or failed; rerun it to completion"
                )
            check_same_encoder(record, shard_record, f"shard {path}", f"{directory / SHARDS}")
            indexes.append(load_index(path / VECTORS))
            stores.append(opened.enter_context(Store(path / STORE)))
        sharded = record, ShardedVectorIndex(indexes), ShardedStore(stores)
        opened.pop_all()  # all opened: the ShardedStore closes them
    return sharded


def merge_top_k(
    scores: Sequence[np.ndarray], ids: Sequence[np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Parts' (scores [Q, k_i], global ids [Q, k_i]) -> the best k [Q, k] by score descending,
    ties by ascending id, padded with -inf / -1 as VectorIndex.search pads."""
    s, i = np.concatenate(scores, 1), np.concatenate(ids, 1)  # [Q, sum k_i]
    # Padding (-inf) sorts after every hit; its id -1 must not win a tie among padding.
    order = np.lexsort((np.where(i < 0, np.iinfo(np.int64).max, i), -s), axis=1)[:, :k]
    s, i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    short = k - s.shape[1]
    if short > 0:
        s = np.pad(s, ((0, 0), (0, short)), constant_values=-np.inf)
        i = np.pad(i, ((0, 0), (0, short)), constant_values=-1)
    return s.astype(np.float32), i.astype(np.int64)


class ShardedVectorIndex(VectorIndex):
    """Shards' indexes as one: shard s's row r is global row offsets[s] + r."""

    def __init__(self, shards: Sequence[VectorIndex]):
        dims = {s.dim for s in shards}
        if len(dims) != 1:
            raise ValueError(f"shards of different vector dimensions {sorted(dims)}")
        super().__init__(sum(len(s) for s in shards), dims.pop())
        self.shards = list(shards)
        self.offsets = np.cumsum([0] + [len(s) for s in shards])  # [S + 1]
        self.backend = "+".join(sorted({s.backend for s in shards}))

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = [], []
        for shard, offset in zip(self.shards, self.offsets, strict=False):
            s, i = shard.search(queries, min(k, len(shard)))  # [Q, k_s]
            scores.append(s)
            ids.append(np.where(i >= 0, i + offset, -1))
        return merge_top_k(scores, ids, k)


class ShardedStore(ClosedOnExit):
    """The Store reads the Retriever makes, over shards' stores, in global rows."""

    def __init__(self, stores: Sequence[Store]):
        self.stores = list(stores)
        counts = np.array([s.counts() for s in stores])  # [S, 2] (documents, mentions)
        self.doc_offsets, self.mention_offsets = (
            np.cumsum(np.concatenate([[0], counts[:, j]])) for j in (0, 1)
        )

    def close(self) -> None:
        for store in self.stores:
            store.close()

    def counts(self) -> tuple[int, int]:
        """(documents, mentions)."""
        return int(self.doc_offsets[-1]), int(self.mention_offsets[-1])

    def mentions(self, rows: Sequence[int]) -> dict[int, tuple[int, int, int, str]]:
        """{mention row: (document row, start, end, text)}."""
        out = {}
        for shard, local in _by_shard(rows, self.mention_offsets):
            first_doc, first = int(self.doc_offsets[shard]), int(self.mention_offsets[shard])
            for row, (doc, *rest) in self.stores[shard].mentions(local).items():
                out[row + first] = (doc + first_doc, *rest)
        return out

    def documents(self, rows: Sequence[int]) -> dict[int, tuple[str, str]]:
        """{document row: (id, text)}."""
        out = {}
        for shard, local in _by_shard(rows, self.doc_offsets):
            first = int(self.doc_offsets[shard])
            out.update({row + first: v for row, v in self.stores[shard].documents(local).items()})
        return out


def _by_shard(rows: Sequence[int], offsets: np.ndarray) -> list[tuple[int, list[int]]]:
    """Global rows -> [(shard, its local rows)]; rows outside every shard are left out."""
    rows = np.asarray(rows, np.int64).reshape(-1)
    rows = rows[(rows >= 0) & (rows < offsets[-1])]
    shard = np.searchsorted(offsets, rows, side="right") - 1  # [R]
    return [(int(s), (rows[shard == s] - offsets[s]).tolist()) for s in np.unique(shard)]
