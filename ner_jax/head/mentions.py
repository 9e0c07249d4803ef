"""Labelled mention sets for head training and selection, drawn from pooled corpus feature stores.

Each corpus (a tuple of files pooled as in the benchmark) is encoded once into a feature store
that evaluation reuses; a file's documents then go to training, to selection, or nowhere.
Types are keyed by their query words, so "politician" in two corpora is one type.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
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
    # Other wordings of each type, if training draws among them: [T, W, in] head inputs (rows
    # past a type's own count repeat its first wording) and [T] how many each type has.
    wordings: np.ndarray | None = None
    wording_counts: np.ndarray | None = None
    queried: np.ndarray | None = None  # [T] bool: types whose R-Precision counts (None: all)

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
    types: Callable[[str], bool] | None = None,
    wordings: Mapping[str, Sequence[str]] | None = None,
    queried: Callable[[str], bool] | None = None,
) -> MentionSet:
    """The mentions of documents whose first occurrence is in one of `files`, of the types
    (query words) that `types` accepts (None: all); with `wordings` (query words -> other
    wordings of the type), each type's wordings are read too; with `queried`, only the types
    it accepts are scored by `retrieval_score` (the others remain as distractors)."""
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
        type_words = [words.get(t) or natural_words(t) for t in features.mention_types]
        take = np.array(
            [
                doc_files[d] in wanted
                and features.kept[m]
                and not is_catch_all(t)
                and (types is None or types(type_words[m]))
                for m, (d, t) in enumerate(
                    zip(features.mention_docs, features.mention_types, strict=True)
                )
            ],
            bool,
        )
        if take.any():
            inputs.append(features.inputs(spec)[take])
        for m in np.flatnonzero(take):
            d = features.mention_docs[m]
            names.append(type_words[m])
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
    anchors = query_inputs(extractor, type_names, spec, template).astype(np.float32)
    return MentionSet(
        inputs=np.concatenate(inputs).astype(np.float32),
        types=np.array([index[n] for n in names], np.int32),
        docs=np.array(docs, np.int64),
        type_names=type_names,
        anchors=anchors,
        files={
            f: {"documents": len(u["documents"]), "mentions": u["mentions"]}
            for f, u in sorted(used.items())
        },
        queried=None if queried is None else np.array([queried(t) for t in type_names], bool),
        **(read_wordings(extractor, spec, template, type_names, anchors, wordings) or {}),
    )


def read_wordings(
    extractor: FeatureExtractor,
    spec: InputSpec,
    template: str,
    type_names: Sequence[str],
    anchors: np.ndarray,
    wordings: Mapping[str, Sequence[str]] | None,
) -> dict | None:
    """MentionSet's `wordings` and `wording_counts`: each type's query words (its anchor) and
    then its other wordings, if `wordings` lists any."""
    if not wordings:
        return None
    others = [[w for w in wordings.get(name, ()) if w != name] for name in type_names]
    width = 1 + max(map(len, others))
    flat = [w for ws in others for w in ws]
    read = query_inputs(extractor, flat, spec, template).astype(np.float32) if flat else None
    table = np.repeat(anchors[:, None], width, axis=1)  # [T, W, in]
    at = 0
    for t, ws in enumerate(others):
        table[t, 1 : 1 + len(ws)] = read[at : at + len(ws)]
        at += len(ws)
    counts = np.array([1 + len(ws) for ws in others], np.int32)
    return {"wordings": table, "wording_counts": counts}


def retrieval_score(
    mention_vectors: np.ndarray, query_vectors: np.ndarray, mentions: MentionSet, seed: int = 0
) -> float:
    """Macro R-Precision of best-mention retrieval over the set's own documents and types."""
    doc_ids, docs = np.unique(mentions.docs, return_inverse=True)
    count = len(mentions.type_names)
    scored = np.arange(count) if mentions.queried is None else np.flatnonzero(mentions.queried)
    relevant = [np.unique(docs[mentions.types == t]) for t in scored]
    scores = best_mention_scores(query_vectors[scored] @ mention_vectors.T, docs, len(doc_ids))
    return evaluate_rankings(rank(scores, seed), relevant)["r_precision"]
