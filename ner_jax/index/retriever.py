"""Search a corpus index by type description: documents ranked by their best mention."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import NamedTuple

from ner_jax.index.build import STORE, VECTORS, read_meta
from ner_jax.index.encoder import CorpusEncoder, open_encoder
from ner_jax.index.sharded import ShardedStore, is_sharded, open_sharded
from ner_jax.index.store import ClosedOnExit, Store
from ner_jax.index.vectors import VectorIndex, load_index


class MentionHit(NamedTuple):
    start: int  # character offsets into the document's text, end exclusive
    end: int
    text: str
    score: float  # cosine with the query


@dataclasses.dataclass(frozen=True)
class Hit:
    doc_id: str
    score: float  # the best mention's cosine
    text: str
    mentions: list[MentionHit]  # its mentions among the retrieved neighbours, best first

    def as_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "score": self.score,
            "text": self.text,
            "mentions": [m._asdict() for m in self.mentions],
        }


class Retriever(ClosedOnExit):
    """An open index with the encoder that built it; `with` closes its store."""

    def __init__(
        self,
        directory: Path,
        encoder: CorpusEncoder,
        index: VectorIndex,
        store: Store | ShardedStore,
    ):
        self.directory, self.encoder, self.index, self.store = directory, encoder, index, store

    @classmethod
    def load(
        cls, directory: str | Path, model: str | None = None, head: str | None = None
    ) -> Retriever:
        """Opens an index (single or sharded); model/head default to the recorded ones,
        others are refused."""
        directory = Path(directory)
        with contextlib.ExitStack() as opened:  # the store is closed if the encoder is refused
            if is_sharded(directory):
                record, index, store = open_sharded(directory)
                opened.enter_context(store)
            else:
                record, _ = read_meta(directory)
                index = load_index(directory / VECTORS)
                store = opened.enter_context(Store(directory / STORE))
            encoder = open_encoder(record, directory, model, head)
            opened.pop_all()
        return cls(directory, encoder, index, store)

    def close(self) -> None:
        self.store.close()

    def search(self, description: str, k: int = 10) -> list[Hit]:
        """The k documents whose best mention is closest to the description, best first.

        Neighbours are fetched max(10 k, 100) mentions at a time, growing until k documents
        are found or every mention was seen; ties go to the earlier mention."""
        if not description.strip():
            raise ValueError("empty type description")
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        query = self.encoder.queries([description])  # [1, D]
        wanted = min(len(self.index), max(10 * k, 100))
        while True:
            scores, ids = self.index.search(query, wanted)  # [1, wanted] each
            found = ids[0] >= 0
            mentions = self.store.mentions(ids[0][found])
            by_doc: dict[int, list[MentionHit]] = {}
            for row, score in zip(ids[0][found], scores[0][found], strict=True):
                doc, start, end, text = mentions[int(row)]
                by_doc.setdefault(doc, []).append(MentionHit(start, end, text, float(score)))
            if len(by_doc) >= k or wanted >= len(self.index):
                break
            wanted = min(len(self.index), wanted * 4)
        # Neighbours arrive best first, so each document's list is already in order.
        ranked = sorted(by_doc, key=lambda d: -by_doc[d][0].score)[:k]
        texts = self.store.documents(ranked)
        return [Hit(texts[d][0], by_doc[d][0].score, texts[d][1], by_doc[d]) for d in ranked]
