"""The retrieval benchmark: every system ranks the same documents for the same queries."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from absl import logging

from ner_jax import atomic, baselines
from ner_jax.benchmark import Benchmark, build_benchmark, load_query_words
from ner_jax.decoder import COMPONENTS
from ner_jax.feature_store import extract_to_store
from ner_jax.features import FeatureExtractor, l2_normalise
from ner_jax.metrics import best_mention_scores, evaluate_rankings, rank
from ner_jax.models import DEFAULT_MODEL, load_model, resolve_tap

SYSTEMS = ("bm25", "minilm", "minilm_mentions", "raw")


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    data: tuple[str, ...]
    out: str
    systems: tuple[str, ...] = ("bm25", "minilm", "raw")
    model: str = DEFAULT_MODEL
    tap_block: int | None = None  # the `raw` system's block; None: the model's default
    component: str | None = None  # the `raw` system's activation; None: the model's default
    raw_taps: tuple[str, ...] = ()  # extra raw systems, "BLOCK" (value vectors) or "COMP@BLOCK"
    queries: str | None = None  # JSON map label -> query words
    catch_all_queries: bool = False  # also query misc/Other* types (the reference's MultiCoNER)
    minilm: str | None = None  # a MiniLM directory; None: the PyPI package
    dtype: str = "float32"
    max_tokens: int = 512
    seed: int = 0  # tie-breaking shuffle


def mention_table(bench: Benchmark) -> tuple[list[list[tuple[int, int]]], np.ndarray, list[str]]:
    """(spans per document, [M] document of each mention, [M] mention strings)."""
    spans = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    docs = np.array([i for i, d in enumerate(bench.documents) for _ in d.spans], np.int64)
    texts = [d.text[s.start : s.end] for d in bench.documents for s in d.spans]
    return spans, docs, texts


def parse_tap(tap: str) -> tuple[str, int]:
    """ "12" or "v@12" -> ("v", 12); "attn@15" -> ("attn", 15)."""
    component, _, block = tap.rpartition("@")
    if not block.isdigit() or (component and component not in COMPONENTS):
        raise ValueError(
            f"bad tap {tap!r}: expected BLOCK or COMPONENT@BLOCK, COMPONENT in {COMPONENTS}"
        )
    return component or "v", int(block)


def raw_systems(config: EvaluateConfig, bench: Benchmark) -> dict[str, Callable[[], np.ndarray]]:
    """`raw` (the model's tap) and `raw-<component><block>` for each extra tap: best-mention
    cosine of activations with type-name queries, no head. One encoder pass for all of them."""
    if "raw" not in config.systems and not config.raw_taps:
        return {}
    default = resolve_tap(config.model, config.tap_block, config.component)
    taps = {f"raw-{c}{b}": (c, b) for c, b in map(parse_tap, config.raw_taps)}
    if "raw" in config.systems:
        taps = {"raw": (default.component, default.block), **taps}
    components = tuple(sorted({c for c, _ in taps.values()}))
    blocks = tuple(sorted({b for _, b in taps.values()}))
    model = load_model(config.model, max(blocks), config.dtype)
    extractor = FeatureExtractor(model, components, blocks, config.max_tokens)
    spans, mention_docs, _ = mention_table(bench)
    started = time.perf_counter()
    store = extract_to_store(
        extractor, [d.text for d in bench.documents], spans, Path(config.out) / "features"
    )
    logging.info("mention features in %.0f s", time.perf_counter() - started)
    query_texts = [q.text for q in bench.queries]
    queries = extractor.embed_queries(query_texts)

    def system(component: str, block: int) -> Callable[[], np.ndarray]:
        def scores() -> np.ndarray:
            mentions = l2_normalise(store.get(component, block)[store.kept])
            q = l2_normalise(queries[component][blocks.index(block)])
            return best_mention_scores(q @ mentions.T, mention_docs[store.kept], len(spans))

        return scores

    return {name: system(*tap) for name, tap in taps.items()}


def evaluate(config: EvaluateConfig) -> dict:
    """Run every system; write report.json, report.md and rankings/<system>.jsonl to out."""
    started_all = time.perf_counter()
    unknown = set(config.systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")
    words = load_query_words(config.queries) if config.queries else None
    bench = build_benchmark(config.data, words, config.catch_all_queries)
    if not bench.queries:
        raise ValueError(f"{', '.join(config.data)}: no entity types to query (only catch-alls?)")
    out = Path(config.out)
    (out / "rankings").mkdir(parents=True, exist_ok=True)
    doc_texts = [d.text for d in bench.documents]
    query_texts = [q.text for q in bench.queries]
    _, mention_docs, mention_texts = mention_table(bench)
    systems: dict[str, Callable[[], np.ndarray]] = {}
    if "bm25" in config.systems:
        systems["bm25"] = lambda: baselines.bm25_scores(doc_texts, query_texts)
    if {"minilm", "minilm_mentions"} & set(config.systems):
        from ner_jax.minilm import MiniLM

        encoder = MiniLM.from_directory(config.minilm) if config.minilm else MiniLM.load()
        if "minilm" in config.systems:
            systems["minilm"] = lambda: baselines.sentence_scores(encoder, doc_texts, query_texts)
        if "minilm_mentions" in config.systems:
            systems["minilm_mentions"] = lambda: baselines.mention_string_scores(
                encoder, mention_texts, mention_docs, len(doc_texts), query_texts
            )
    systems.update(raw_systems(config, bench))
    relevant = [q.relevant for q in bench.queries]
    results = {}
    for name, scores_fn in systems.items():
        started = time.perf_counter()
        rankings = rank(scores_fn(), config.seed)
        results[name] = evaluate_rankings(rankings, relevant)
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
        write_rankings(out / "rankings" / f"{name}.jsonl", bench, rankings)
        logging.info("%s: R-Precision %.3f", name, results[name]["r_precision"])
    report = {
        "config": dataclasses.asdict(config),
        "corpus": {
            "documents": len(bench.documents),
            "mentions": len(mention_docs),
            "queries": [
                {"type": q.type, "query": q.text, "relevant": len(q.relevant)}
                for q in bench.queries
            ],
        },
        "systems": results,
        "seconds_total": round(time.perf_counter() - started_all, 1),
    }
    atomic.write_text(out / "report.json", json.dumps(report, indent=1))
    atomic.write_text(out / "report.md", markdown(report))
    return report


def write_rankings(path: Path, bench: Benchmark, rankings: list[np.ndarray]) -> None:
    """One JSON line per query: type, query text and document ids best first (at least R)."""
    lines = []
    for query, ranking in zip(bench.queries, rankings, strict=True):
        top = ranking[: max(len(query.relevant), 100)]
        ids = [bench.documents[i].id for i in top]
        lines.append(json.dumps({"type": query.type, "query": query.text, "ranking": ids}))
    atomic.write_text(path, "\n".join(lines) + "\n")


def markdown(report: dict) -> str:
    """The report as Markdown: one table of systems, one of R-Precision per query."""
    systems = report["systems"]
    corpus = report["corpus"]
    lines = [
        f"Corpus: {', '.join(report['config']['data'])}: {corpus['documents']} documents, "
        f"{corpus['mentions']} gold mentions, {len(corpus['queries'])} queries.",
        "",
        "| system | R-Precision | P@10 | seconds |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {r['r_precision']:.3f} | {r['p_at_10']:.3f} | {r['seconds']} |"
        for n, r in systems.items()
    ]
    lines += [
        "",
        "| type | query | R | " + " | ".join(systems) + " |",
        "|---|---|---|" + "---|" * len(systems),
    ]
    for i, q in enumerate(corpus["queries"]):
        cells = " | ".join(f"{r['per_query_r_precision'][i]:.3f}" for r in systems.values())
        lines.append(f"| {q['type']} | {q['query']} | {q['relevant']} | {cells} |")
    return "\n".join(lines) + "\n"
