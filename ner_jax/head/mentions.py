"""Labelled mention sets for head training and selection, drawn from pooled corpus feature stores.

Each corpus (a tuple of files pooled as in the benchmark) is encoded once into a feature store
that evaluation reuses; a file's documents then go to training, to selection, or nowhere.
Types are keyed by their query words, so "politician" in two corpora is one type.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import logging

from ner_jax.data import (
    best_mention_scores,
    build_benchmark,
    evaluate_rankings,
    is_catch_all,
    load_query_words,
    natural_words,
    rank,
)
from ner_jax.features import (
    QUERY_TEMPLATE,
    FeatureExtractor,
    InputSpec,
    corpus_features,
    query_inputs,
)


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Files pooled into one benchmark (and one feature store); query words for its labels."""

    files: tuple[str, ...]
    queries: str | None = None  # JSON map label -> query words; None: natural_words


@dataclasses.dataclass
class MentionSet:
    """Mentions of non-catch-all types with head inputs; types index `type_names`."""

    inputs: np.ndarray  # [M, in] float32
    types: np.ndarray  # [M] int32 index into type_names
    docs: np.ndarray  # [M] int64 document index (unique across corpora)
    type_names: list[str]  # query words of each type
    anchors: np.ndarray  # [T, in] head inputs of the type names
    files: dict[str, dict[str, int]]  # file -> {"documents", "mentions"} that went in

    def __len__(self) -> int:
        return len(self.types)

    def counts(self) -> np.ndarray:
        return np.bincount(self.types, minlength=len(self.type_names))


def file_of(document_id: str) -> str:
    """ "PATH:N" -> "PATH"."""
    return document_id.rpartition(":")[0]


def load_mentions(
    extractor: FeatureExtractor,
    spec: InputSpec,
    corpora: Sequence[Corpus],
    files: Sequence[str],
    features_root: Path,
    progress: bool = True,
    template: str = QUERY_TEMPLATE,
) -> MentionSet:
    """The mentions of documents whose first occurrence is in one of `files`."""
    wanted = {os.fspath(f) for f in files}
    known = {os.fspath(f) for c in corpora for f in c.files}
    if missing := sorted(wanted - known):
        raise ValueError(f"files {missing} are in no corpus: {[c.files for c in corpora]}")
    inputs, names, docs, used = [], [], [], {}
    offset = 0
    for corpus in corpora:
        words = load_query_words(corpus.queries) if corpus.queries else {}
        bench = build_benchmark(corpus.files, words)
        features = corpus_features(extractor, bench, features_root, progress)
        doc_files = [file_of(d.id) for d in bench.documents]
        take = np.array(
            [
                doc_files[d] in wanted and features.kept[m] and not is_catch_all(t)
                for m, (d, t) in enumerate(
                    zip(features.mention_docs, features.mention_types, strict=True)
                )
            ],
            bool,
        )
        if take.any():
            inputs.append(features.inputs(spec)[take])
        types = np.asarray(features.mention_types)[take]
        for d, t in zip(features.mention_docs[take], types, strict=True):
            names.append(words.get(t) or natural_words(t))
            docs.append(d + offset)
            used.setdefault(doc_files[d], {"documents": set(), "mentions": 0})
            used[doc_files[d]]["documents"].add(int(d))
            used[doc_files[d]]["mentions"] += 1
        offset += len(bench.documents)
    if not names:
        raise ValueError(f"no labelled mentions of a non-catch-all type in {sorted(wanted)}")
    type_names = sorted(set(names))
    index = {n: i for i, n in enumerate(type_names)}
    logging.info("%d mentions of %d types from %d files", len(names), len(index), len(used))
    return MentionSet(
        inputs=np.concatenate(inputs).astype(np.float32),
        types=np.array([index[n] for n in names], np.int32),
        docs=np.array(docs, np.int64),
        type_names=type_names,
        anchors=query_inputs(extractor, type_names, spec, template).astype(np.float32),
        files={
            f: {"documents": len(u["documents"]), "mentions": u["mentions"]}
            for f, u in sorted(used.items())
        },
    )


def retrieval_score(
    mention_vectors: np.ndarray, query_vectors: np.ndarray, mentions: MentionSet, seed: int = 0
) -> float:
    """Macro R-Precision of best-mention retrieval over the set's own documents and types."""
    doc_ids, docs = np.unique(mentions.docs, return_inverse=True)
    relevant = [np.unique(docs[mentions.types == t]) for t in range(len(mentions.type_names))]
    scores = best_mention_scores(query_vectors @ mention_vectors.T, docs, len(doc_ids))
    return evaluate_rankings(rank(scores, seed), relevant)["r_precision"]
