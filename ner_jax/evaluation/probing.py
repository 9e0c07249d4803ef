"""Layer and component probe: how well each block's q, k, v, ... separate entity types."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from absl import logging

from ner_jax.data import (
    best_mention_scores,
    build_benchmark,
    evaluate_rankings,
    is_catch_all,
    load_query_words,
    rank,
)
from ner_jax.evaluation.run import mention_table
from ner_jax.features import extract_to_store, extractor_for, l2_normalise
from ner_jax.files import atomic
from ner_jax.model import COMPONENTS, DEFAULT_MODEL, resolve_dtype, resolve_tap


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    data: tuple[str, ...]
    out: str
    model: str = DEFAULT_MODEL
    components: tuple[str, ...] = COMPONENTS
    queries: str | None = None
    pairs: int = 200_000  # mention pairs sampled for the ROC-AUC
    dtype: str = "auto"
    max_tokens: int = 512
    seed: int = 0


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counted half (Mann-Whitney)."""
    values = np.concatenate([positive, negative])
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2  # 1-based, tied values share the mean
    ranks = average_rank[inverse]
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sample_pairs(types: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random mention pairs (i != j), half of them same-type, of typed mentions."""
    rng = np.random.default_rng(seed)
    by_type = {t: np.flatnonzero(types == t) for t in np.unique(types)}
    groups = [g for g in by_type.values() if len(g) > 1]
    sizes = np.array([len(g) for g in groups], float)
    which = rng.choice(len(groups), count // 2, p=sizes / sizes.sum())
    same = np.array([rng.choice(groups[g], 2, replace=False) for g in which])
    a, b = rng.integers(0, len(types), (2, count))
    return np.concatenate([same[:, 0], a]), np.concatenate([same[:, 1], b])


def probe(config: ProbeConfig) -> dict:
    """Score every (component, block): raw R-Precision of type-name queries and pair ROC-AUC."""
    config = dataclasses.replace(config, dtype=resolve_dtype(config.dtype))  # as reported
    words = load_query_words(config.queries) if config.queries else None
    bench = build_benchmark(config.data, words)
    blocks = range(resolve_tap(config.model, tap_block=0).config.num_hidden_layers)
    taps = [f"{c}@{b}" for c in config.components for b in blocks]
    extractor = extractor_for(config.model, taps, config.dtype, config.max_tokens)
    spans, mention_docs, _ = mention_table(bench)
    types = np.array([s.type for d in bench.documents for s in d.spans])
    store = extract_to_store(
        extractor,
        [d.text for d in bench.documents],
        spans,
        Path(config.out) / "features",
        shard_docs=512,  # all blocks of all components: keep each shard's arrays small
        dtype="float16",  # cosines need no more; halves the store (~10 GB fp32 for CrossNER)
    )
    query_texts = [q.text for q in bench.queries]
    queries = extractor.embed_queries(query_texts)
    typed = store.kept & ~np.vectorize(is_catch_all)(types)
    a, b = sample_pairs(types[typed], config.pairs, config.seed)
    same = types[typed][a] == types[typed][b]
    keep = a != b
    relevant = [q.relevant for q in bench.queries]
    table = {}
    for name in config.components:
        table[name] = []
        for block in blocks:
            vectors = l2_normalise(store.get(name, block)[store.kept])
            q = l2_normalise(queries[name][block])
            scores = best_mention_scores(q @ vectors.T, mention_docs[store.kept], len(spans))
            rp = evaluate_rankings(rank(scores, config.seed), relevant)["r_precision"]
            unit = l2_normalise(store.get(name, block)[typed])
            cosine = np.einsum("pw,pw->p", unit[a], unit[b])  # [pairs]
            auc = roc_auc(cosine[same & keep], cosine[~same & keep])
            table[name].append({"block": block, "r_precision": rp, "pair_auc": auc})
            logging.info("%s block %d: R-Precision %.3f, ROC-AUC %.3f", name, block, rp, auc)
    best = max(
        ((n, row) for n, rows in table.items() for row in rows), key=lambda x: x[1]["r_precision"]
    )
    report = {
        "config": dataclasses.asdict(config),
        "model": extractor.model.name,
        "documents": len(spans),
        "mentions": int(store.kept.sum()),
        "queries": len(bench.queries),
        "table": table,
        "best": {"component": best[0], **best[1]},
    }
    out = Path(config.out)
    atomic.write_text(out / "probe.json", json.dumps(report, indent=1))
    plot(report, out / "probe.png")
    return report


def plot(report: dict, path: Path) -> None:
    """Two panels over blocks, one line per component: R-Precision and pair ROC-AUC."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for name, rows in report["table"].items():
        blocks = [r["block"] for r in rows]
        axes[0].plot(blocks, [r["r_precision"] for r in rows], marker="o", ms=3, label=name)
        axes[1].plot(blocks, [r["pair_auc"] for r in rows], marker="o", ms=3, label=name)
    axes[0].set(title="raw R-Precision (type-name queries)", xlabel="block", ylabel="macro R-Prec")
    axes[1].set(title="same- vs different-type ROC-AUC", xlabel="block", ylabel="ROC-AUC")
    axes[1].legend(fontsize=8)
    axes[0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    figure.suptitle(
        f"{report['model']}: {report['documents']} documents, {report['mentions']} mentions, "
        f"{report['queries']} queries"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
