"""Search a corpus index by type description: documents ranked by their best mention."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ner_jax.features import head_phrase_end
from ner_jax.index.build import STORE, VECTORS, add_to_index, read_meta
from ner_jax.index.documents import Document
from ner_jax.index.encoder import CorpusEncoder, open_encoder
from ner_jax.index.sharded import ShardedStore, is_sharded, open_sharded
from ner_jax.index.store import ClosedOnExit, Store
from ner_jax.index.vectors import VectorIndex, load_index
from ner_jax.verdict import VERDICT_DEPTH, Candidate, Verdict, reranked


class MentionHit(NamedTuple):
    start: int  # character offsets into the document's text, end exclusive
    end: int
    text: str
    # Cosine with the query; for the first mention of a compositional description's hit, with
    # its head phrase (Retriever._shown).
    score: float


@dataclasses.dataclass(frozen=True)
class Hit:
    doc_id: str
    # The best mention's cosine with the description, the document's rank (a head with a
    # context part adds its text's: head.add_context).
    score: float
    text: str
    # Its mentions among the retrieved neighbours, best first (a compositional description's
    # hit shows the mention of the kind it names first: Retriever._shown).
    mentions: list[MentionHit]
    # The model's log-probability of "<mention> is a <description>." for its best mention
    # judged, where the hit was among the first `rerank` (ner_jax.verdict); those hits are
    # ordered by score and verdict together.
    verdict: float | None = None

    def as_dict(self) -> dict:
        return {
            "doc_id": self.doc_id,
            "score": self.score,
            "text": self.text,
            "mentions": [m._asdict() for m in self.mentions],
            "verdict": self.verdict,
        }


class Retriever(ClosedOnExit):
    """An open index with the encoder that built it; `with` closes its store.

    `rerank`: how many first hits of each search the model's verdict reorders (0: none); the
    whole model is loaded for it at the first search that needs it."""

    def __init__(
        self,
        directory: Path,
        encoder: CorpusEncoder,
        index: VectorIndex,
        store: Store | ShardedStore,
        rerank: int = VERDICT_DEPTH,
    ):
        if rerank < 0:
            raise ValueError(f"rerank must be 0 (off) or a number of hits, got {rerank}")
        self.directory, self.encoder, self.index, self.store = directory, encoder, index, store
        self.rerank = rerank
        self._verdict: Verdict | None = None

    @classmethod
    def load(
        cls,
        directory: str | Path,
        model: str | None = None,
        head: str | None = None,
        rerank: int = VERDICT_DEPTH,
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
        return cls(directory, encoder, index, store, rerank)

    def close(self) -> None:
        self.store.close()

    def add(self, documents: Sequence[Document], progress: bool = False) -> dict:
        """Encodes the new documents with this retriever's encoder, swaps in the grown index
        (build.add_to_index) and searches it from then on; the build's summary."""
        if is_sharded(self.directory):
            raise ValueError(f"{self.directory}: adding to a sharded index is not supported")
        summary = add_to_index(documents, self.directory, progress=progress, encoder=self.encoder)
        index, store = load_index(self.directory / VECTORS), Store(self.directory / STORE)
        self.store.close()
        self.index, self.store = index, store
        return summary

    def search(self, description: str, k: int = 10) -> list[Hit]:
        """The k documents whose best mention is closest to the description, best first.

        Neighbours are fetched max(10 k, 100) mentions at a time, growing until k documents
        are found or every mention was seen; ties go to the earlier mention."""
        return self.search_many([description], k)[0]

    def search_many(
        self, descriptions: Sequence[str], k: int | Sequence[int] = 10
    ) -> list[list[Hit]]:
        """search() of each description (k: one for all, or one per description): the
        descriptions are embedded in one forward (which reads the weights once for all of
        them) and searched in one batched vector search per distinct k."""
        ks = [k] * len(descriptions) if isinstance(k, int) else list(k)
        if len(ks) != len(descriptions):
            raise ValueError(f"{len(descriptions)} descriptions, but {len(ks)} values of k")
        for description, wanted in zip(descriptions, ks, strict=True):
            if not description.strip():
                raise ValueError("empty type description")
            if wanted <= 0:
                raise ValueError(f"k must be positive, got {wanted}")
        if not descriptions:
            return []
        # Descriptions with a post-modifier also need their head phrase (see _shown).
        modified = [head_phrase_end(d) < len(d.rstrip()) for d in descriptions]
        queries, kinds = self.encoder.queries_and_kinds(list(descriptions), any(modified))
        results: list[list[Hit]] = [[] for _ in descriptions]
        for wanted in sorted(set(ks)):
            rows = [q for q, each in enumerate(ks) if each == wanted]
            fetched = min(len(self.index), max(10 * max(wanted, self.rerank), 100))
            scores, ids = self.index.search(queries[rows], fetched)  # [len(rows), fetched]
            for r, q in enumerate(rows):
                kind = kinds[q : q + 1] if modified[q] else None
                results[q] = self._ranked(
                    descriptions[q], queries[q : q + 1], scores[r], ids[r], wanted, kind
                )
        return results

    def _ranked(
        self,
        description: str,
        query: np.ndarray,
        scores: np.ndarray,
        ids: np.ndarray,
        k: int,
        kind: np.ndarray | None = None,
    ) -> list[Hit]:
        """The k best documents of one query [1, D], from its first neighbours (scores, ids),
        fetching 4 times as many while fewer than max(k, rerank) documents are found. With
        `kind` [1, D], the vector of the description's head phrase, each document shows that
        phrase's best mention first (see _shown). With `rerank`, the first `rerank` documents
        are reordered by the model's verdict on the description (see _judged)."""
        wanted = max(k, self.rerank)
        while True:
            found = ids >= 0
            mentions = self.store.mentions(ids[found])
            by_doc: dict[int, list[MentionHit]] = {}
            for row, score in zip(ids[found], scores[found], strict=True):
                doc, start, end, text = mentions[int(row)]
                by_doc.setdefault(doc, []).append(MentionHit(start, end, text, float(score)))
            if len(by_doc) >= wanted or len(ids) >= len(self.index):
                break
            scores, ids = (
                x[0] for x in self.index.search(query, min(len(self.index), len(ids) * 4))
            )
        # Neighbours arrive best first, so each document's list is already in order.
        ranked = sorted(by_doc, key=lambda d: -by_doc[d][0].score)[:wanted]
        best = {d: by_doc[d][0].score for d in ranked}
        texts = self.store.documents(ranked)
        judged: dict[int, float] = {}
        if self.rerank:
            ranked, judged = self._judged(description, ranked, by_doc, texts)
            ranked = ranked[:k]
        if kind is not None:
            by_doc |= self._shown(kind, len(ids), {d: by_doc[d] for d in ranked})
        return [Hit(texts[d][0], best[d], texts[d][1], by_doc[d], judged.get(d)) for d in ranked]

    def _judged(
        self,
        description: str,
        ranked: list[int],
        by_doc: dict[int, list[MentionHit]],
        texts: dict[int, tuple[str, str]],
    ) -> tuple[list[int], dict[int, float]]:
        """The documents with their first `rerank` reordered by score and the model's verdict
        on their best mentions for the description (ner_jax.verdict.reranked), and those
        verdicts. The mention shown first stays the head's (measured on the demo: the
        verdict's best of two mentions is often the wrong one to show, docs/head.md)."""
        if self._verdict is None:
            self._verdict = Verdict.load(self.encoder.record.model, self.encoder.record.dtype)
        first = ranked[: self.rerank]
        candidates = [
            Candidate(texts[d][1], [(m.start, m.end) for m in by_doc[d]], by_doc[d][0].score)
            for d in first
        ]
        order, verdicts = reranked(self._verdict, description, candidates)
        judged = {d: float(v) for d, v in zip(first, verdicts, strict=True)}
        return [first[i] for i in order] + ranked[self.rerank :], judged

    def _shown(
        self, kind: np.ndarray, fetched: int, by_doc: dict[int, list[MentionHit]]
    ) -> dict[int, list[MentionHit]]:
        """The documents' mentions with the head phrase's best one first, where the phrase's
        `fetched` nearest mentions hold one of theirs. A compositional description ("castle
        in Scotland") ranks documents by the whole phrase, read at its last token, and their
        best mention for it is often the attribute's ("Scotland"); the mention to show is the
        entity of the kind the description names ("castle"), scored against that kind."""
        scores, ids = (x[0] for x in self.index.search(kind, fetched))
        found = ids >= 0
        mentions = self.store.mentions(ids[found])
        shown: dict[int, list[MentionHit]] = {}
        for row, score in zip(ids[found], scores[found], strict=True):
            doc, start, end, text = mentions[int(row)]
            if doc in by_doc and doc not in shown:  # neighbours arrive best first
                others = [m for m in by_doc[doc] if (m.start, m.end) != (start, end)]
                shown[doc] = [MentionHit(start, end, text, float(score)), *others]
        return shown
