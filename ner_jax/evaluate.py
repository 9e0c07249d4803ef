"""The retrieval benchmark: every system ranks the same documents for the same queries."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from absl import logging
from tqdm import tqdm

from ner_jax import atomic, baselines
from ner_jax.benchmark import Benchmark, build_benchmark, load_query_words
from ner_jax.detected_mentions import detect_mentions
from ner_jax.detector import load_detector, resolve_detector
from ner_jax.detector_tags import span_scores
from ner_jax.features import FeatureExtractor
from ner_jax.head_file import Head, load_head, shipped_head
from ner_jax.head_inputs import (
    QUERY_TEMPLATE,
    InputSpec,
    corpus_features,
    parse_tap,
    query_inputs,
)
from ner_jax.metrics import NO_MENTION, best_mention_scores, evaluate_rankings, rank
from ner_jax.models import DEFAULT_MODEL, load_model, resolve_tap

SYSTEMS = ("bm25", "minilm", "minilm_mentions", "raw", "head")
SPANS = ("gold", "detected")  # which mentions the model-based systems read


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    data: tuple[str, ...]
    out: str
    systems: tuple[str, ...] = ("bm25", "minilm", "raw", "head")
    model: str = DEFAULT_MODEL
    tap_block: int | None = None  # the `raw` system's block; None: the model's default
    component: str | None = None  # the `raw` system's activation; None: the model's default
    raw_taps: tuple[str, ...] = ()  # extra raw systems, "BLOCK" (value vectors) or "COMP@BLOCK"
    heads: tuple[str, ...] = ()  # head files, "PATH" (system `head`) or "NAME=PATH" (`head-NAME`)
    fuse: tuple[str, ...] = ()  # fused pairs of systems, "A+B" (e.g. head+minilm)
    seen_types: str | None = None  # JSON list of labels seen in training: also score the rest
    features: str | None = None  # feature store root; None: <out>/features
    query_template: str = QUERY_TEMPLATE  # raw systems' query text (heads use their own)
    queries: str | None = None  # JSON map label -> query words
    catch_all_queries: bool = False  # also query misc/Other* types (the reference's MultiCoNER)
    minilm: str | None = None  # a MiniLM directory; None: the PyPI package
    dtype: str = "float32"
    max_tokens: int = 512
    seed: int = 0  # tie-breaking shuffle
    spans: str = "gold"  # "detected": the mention detector's spans instead of the gold ones
    detector: str | None = None  # with spans="detected"; None: the detector shipped for the model


def mention_table(bench: Benchmark) -> tuple[list[list[tuple[int, int]]], np.ndarray, list[str]]:
    """(spans per document, [M] document of each mention, [M] mention strings)."""
    spans = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    docs = np.array([i for i, d in enumerate(bench.documents) for _ in d.spans], np.int64)
    texts = [d.text[s.start : s.end] for d in bench.documents for s in d.spans]
    return spans, docs, texts


def encoder_systems(
    config: EvaluateConfig, bench: Benchmark, notes: dict
) -> dict[str, Callable[[], np.ndarray]]:
    """`raw` (the model's tap), `raw-<component><block>` per extra tap (best-mention cosine of
    activations with the type names, no head), and one system per head. One encoder pass over
    the corpus serves all of them (with gold spans, the store in --features is reused across
    runs; with detected spans, the pass also detects, and `notes` gets the detector's scores)."""
    default = resolve_tap(config.model, config.tap_block, config.component)
    taps = {f"raw-{c}{b}": (c, b) for c, b in map(parse_tap, config.raw_taps)}
    if "raw" in config.systems:
        taps = {"raw": (default.component, default.block), **taps}
    heads = {name: load_head(path) for name, path in head_paths(config).items()}
    if not taps and not heads:
        return {}
    for name, head in heads.items():
        if head.model != config.model:
            raise ValueError(f"{name} reads {head.model} activations; --model is {config.model}")
    needed = [*taps.values(), *(t for h in heads.values() for t in h.spec.parsed)]
    detector = None
    if config.spans == "detected":
        detector_path = resolve_detector(config.model, config.detector)
        if detector_path is None:
            raise ValueError(f"--spans detected needs a detector; none ships for {config.model}")
        detector = load_detector(detector_path)
        needed += list(map(parse_tap, detector.taps))
    components = tuple(sorted({c for c, _ in needed}))
    blocks = tuple(sorted({b for _, b in needed}))
    model = load_model(config.model, max(blocks), config.dtype)
    extractor = FeatureExtractor(model, components, blocks, config.max_tokens)
    started = time.perf_counter()
    if detector is None:
        root = Path(config.features) if config.features else Path(config.out) / "features"
        features = corpus_features(extractor, bench, root)
        kept, docs = features.kept, features.mention_docs[features.kept]

        def inputs(spec: InputSpec) -> np.ndarray:
            return features.inputs(spec)[kept]
    else:
        texts = [d.text for d in bench.documents]
        with tqdm(total=len(texts), unit="text", desc="detecting mentions") as bar:
            found = detect_mentions(extractor, detector, texts, bar)
        docs, inputs = found.docs, found.inputs
        gold = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
        notes["detector"] = {
            "path": str(detector_path),
            "variant": detector.record.get("variant"),
            "mentions": len(docs),
            **span_scores(found.spans, gold),
        }
    logging.info("mention features in %.0f s", time.perf_counter() - started)
    query_texts = [q.text for q in bench.queries]

    def raw(component: str, block: int) -> Callable[[], np.ndarray]:
        def scores() -> np.ndarray:
            spec = InputSpec((f"{component}@{block}",))
            mentions = inputs(spec)
            queries = query_inputs(extractor, query_texts, spec, config.query_template)
            return best_mention_scores(queries @ mentions.T, docs, len(bench.documents))

        return scores

    def projected(head: Head) -> Callable[[], np.ndarray]:
        def scores() -> np.ndarray:
            mentions = head.project(inputs(head.spec))
            queries = query_inputs(extractor, query_texts, head.spec, head.query_template)
            queries = head.project(queries)
            return best_mention_scores(queries @ mentions.T, docs, len(bench.documents))

        return scores

    systems = {name: raw(*tap) for name, tap in taps.items()}
    return systems | {name: projected(head) for name, head in heads.items()}


def head_paths(config: EvaluateConfig) -> dict[str, str]:
    """System name -> head file: `head` is the shipped head (or the first --head without a
    name), `head-NAME` each NAME=PATH."""
    paths = {}
    for entry in config.heads:
        name, _, path = entry.rpartition("=")
        paths[f"head-{name}" if name else "head"] = path
    if "head" in config.systems and "head" not in paths:
        shipped = shipped_head(config.model)
        if shipped is None:
            raise ValueError(
                f"no head ships for {config.model}: pass --head PATH, or leave `head` out of"
                " --systems"
            )
        paths["head"] = str(shipped)
    return paths


def fused(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """[Q, D] mean of two systems' scores, each standardised per query over the documents
    (documents without a mention take the lowest real score first)."""

    def standard(scores: np.ndarray) -> np.ndarray:
        real = scores > NO_MENTION
        low = np.where(real, scores, np.inf).min(axis=1, keepdims=True)
        scores = np.where(real, scores, np.where(np.isfinite(low), low, 0.0))
        std = scores.std(axis=1, keepdims=True)
        return (scores - scores.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)

    return (standard(first) + standard(second)) / 2


def evaluate(config: EvaluateConfig) -> dict:
    """Run every system; write report.json, report.md and rankings/<system>.jsonl to out."""
    started_all = time.perf_counter()
    unknown = set(config.systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")
    if config.spans not in SPANS:
        raise ValueError(f"spans must be one of {SPANS}, got {config.spans!r}")
    if config.spans == "detected" and "minilm_mentions" in config.systems:
        raise ValueError("minilm_mentions embeds gold mention strings: not with detected spans")
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
    notes: dict = {}
    systems.update(encoder_systems(config, bench, notes))
    for pair in config.fuse:
        first, _, second = pair.partition("+")
        if first not in systems or second not in systems:
            raise ValueError(f"--fuse {pair}: both systems must run; running {sorted(systems)}")
    relevant = [q.relevant for q in bench.queries]
    seen = set(json.loads(Path(config.seen_types).read_text())) if config.seen_types else None
    results, scores = {}, {}
    for name, scores_fn in [*systems.items(), *((p, None) for p in config.fuse)]:
        started = time.perf_counter()
        if scores_fn is None:
            first, _, second = name.partition("+")
            scores[name] = fused(scores[first], scores[second])
        else:
            scores[name] = scores_fn()
        rankings = rank(scores[name], config.seed)
        results[name] = evaluate_rankings(rankings, relevant)
        if seen is not None:
            for part, keep in (("seen", True), ("unseen", False)):
                picked = [i for i, q in enumerate(bench.queries) if (q.type in seen) == keep]
                per_query = results[name]["per_query_r_precision"]
                part_score = np.mean([per_query[i] for i in picked]) if picked else np.nan
                results[name][f"{part}_r_precision"] = float(part_score)
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
        "spans": config.spans,
        **notes,
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
    split = all("unseen_r_precision" in r for r in systems.values()) and systems
    extra = " unseen types | seen types |" if split else ""
    lines = [
        f"Corpus: {', '.join(report['config']['data'])}: {corpus['documents']} documents, "
        f"{corpus['mentions']} gold mentions, {len(corpus['queries'])} queries.",
        "",
    ]
    if "detector" in report:
        d = report["detector"]
        lines += [
            f"Model systems read detected spans ({d['path']}): {d['mentions']} mentions, span "
            f"precision {d['precision']:.3f}, recall {d['recall']:.3f}, F1 {d['f1']:.3f}.",
            "",
        ]
    lines += [
        f"| system | R-Precision |{extra} P@10 | seconds |",
        "|---|---|---|---|" + ("---|---|" if split else ""),
    ]
    for n, r in systems.items():
        cells = f" {r['unseen_r_precision']:.3f} | {r['seen_r_precision']:.3f} |" if split else ""
        lines.append(
            f"| {n} | {r['r_precision']:.3f} |{cells} {r['p_at_10']:.3f} | {r['seconds']} |"
        )
    lines += [
        "",
        "| type | query | R | " + " | ".join(systems) + " |",
        "|---|---|---|" + "---|" * len(systems),
    ]
    for i, q in enumerate(corpus["queries"]):
        cells = " | ".join(f"{r['per_query_r_precision'][i]:.3f}" for r in systems.values())
        lines.append(f"| {q['type']} | {q['query']} | {q['relevant']} | {cells} |")
    return "\n".join(lines) + "\n"
