"""Scores every block's raw value vectors for type retrieval; picks the named models' tap blocks.

Selection data is MultiCoNER en-dev (protocol A's selection split), never the CrossNER evaluation
corpus. For each block: macro R-Precision of type-name queries over sentence documents (a
document scores its best mention, plain cosine) and ROC-AUC of same-type vs different-type mention
pairs. Prints a table and writes JSON. Usage:
  python scripts/measure_tap_blocks.py --model gemma3-270m --out results/tap_blocks_gemma.json
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
from absl import app, flags

from ner_jax.conll import read_conll
from ner_jax.encoding import Mention, l2_normalise, value_vectors
from ner_jax.models import load_model

flags.DEFINE_string("model", "gemma3-270m", "named model, HF dir or GGUF")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS


def catch_all(label: str) -> bool:
    return label == "misc" or label.startswith("Other")


def r_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    r = int(relevant.sum())
    top = np.argsort(-scores, kind="stable")[:r]
    return float(relevant[top].mean())


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    values = np.concatenate([positive, negative])
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(1, len(values) + 1)
    return float(
        (ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
        / (len(positive) * len(negative))
    )


def score_block(vectors, mention_doc, mention_type, queries, query_types, num_docs):
    unit, q = l2_normalise(vectors), l2_normalise(queries)
    sims = q @ unit.T  # [types, mentions]
    per_type = {}
    for t, label in enumerate(query_types):
        doc_scores = np.full(num_docs, -np.inf)
        np.maximum.at(doc_scores, mention_doc, sims[t])
        relevant = np.zeros(num_docs, bool)
        relevant[mention_doc[mention_type == label]] = True
        per_type[label] = r_precision(doc_scores, relevant)
    pair = unit @ unit.T
    same = mention_type[:, None] == mention_type[None, :]
    upper = np.triu(np.ones_like(same), 1)
    auc = roc_auc(pair[same & upper], pair[~same & upper])
    return float(np.mean(list(per_type.values()))), auc


def main(argv):
    del argv
    path = Path(FLAGS.data) / "multiconer2_en" / "en-dev.conll"
    words = json.loads((Path(FLAGS.data) / "queries" / "multiconer.json").read_text())
    sentences = read_conll(path)
    texts = [s.text for s in sentences]
    mentions, types = [], []
    for d, sentence in enumerate(sentences):
        for span in sentence.spans:
            if not catch_all(span.type):
                mentions.append(Mention(d, span.start, span.end))
                types.append(span.type)
    query_types = sorted(set(types))
    model = load_model(FLAGS.model, tap_block=None)
    model = load_model(FLAGS.model, tap_block=model.config.num_hidden_layers - 1)
    started = time.perf_counter()
    vectors = value_vectors(model, texts, mentions, all_blocks=True)
    query_texts = [words[t] for t in query_types]
    queries = value_vectors(
        model,
        query_texts,
        [Mention(i, 0, len(q)) for i, q in enumerate(query_texts)],
        all_blocks=True,
    )
    seconds = time.perf_counter() - started
    mention_doc, mention_type = np.array([m.doc for m in mentions]), np.array(types)
    rows = []
    for block in range(len(vectors)):
        rp, auc = score_block(
            vectors[block], mention_doc, mention_type, queries[block], query_types, len(texts)
        )
        rows.append({"block": block, "r_precision": rp, "pair_auc": auc})
        print(f"block {block:2d}  R-Precision {rp:.3f}  pair ROC-AUC {auc:.3f}")
    best = max(rows, key=lambda r: r["r_precision"])
    print(
        f"best block by R-Precision: {best['block']}  ({len(mentions)} mentions, "
        f"{len(query_types)} queries, {len(texts)} sentences, encoded in {seconds:.0f}s)"
    )
    if FLAGS.out:
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(
            json.dumps(
                {
                    "model": FLAGS.model,
                    "data": str(path),
                    "mentions": len(mentions),
                    "queries": len(query_types),
                    "documents": len(texts),
                    "blocks": rows,
                    "best_block": best["block"],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    app.run(main)
