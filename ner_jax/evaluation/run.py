"""The retrieval benchmark: every system ranks the same documents for the same queries."""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from absl import logging

from ner_jax.data import (
    NO_MENTION,
    Benchmark,
    build_benchmark,
    evaluate_rankings,
    load_query_words,
    rank,
)
from ner_jax.detector import check_threshold
from ner_jax.evaluation import baselines
from ner_jax.evaluation.breakdown import (
    breakdown_table,
    group_scores,
    paraphrase_benchmark,
    paraphrase_spread,
    read_groups,
)
from ner_jax.evaluation.config import SPANS, SYSTEMS, EvaluateConfig
from ner_jax.evaluation.minilm import MiniLM
from ner_jax.evaluation.model_systems import GOLD, encoder_systems, head_paths
from ner_jax.evaluation.verdict_systems import JudgedMentions, verdict_systems
from ner_jax.files import atomic
from ner_jax.model import resolve_dtype
from ner_jax.verdict import Verdict


def mention_table(bench: Benchmark) -> tuple[list[list[tuple[int, int]]], np.ndarray, list[str]]:
    """(spans per document, [M] document of each mention, [M] mention strings)."""
    spans = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    docs = np.array([i for i, d in enumerate(bench.documents) for _ in d.spans], np.int64)
    texts = [d.text[s.start : s.end] for d in bench.documents for s in d.spans]
    return spans, docs, texts


def evaluate(config: EvaluateConfig) -> dict:
    """Run every system; write report.json, report.md and rankings/<system>.jsonl to out."""
    started = time.perf_counter()
    check_config(config)
    config = dataclasses.replace(config, dtype=resolve_dtype(config.dtype))  # as reported
    bench = query_benchmark(config)
    out = Path(config.out)
    (out / "rankings").mkdir(parents=True, exist_ok=True)
    notes: dict = {}
    systems = baseline_systems(config, bench)
    judged: dict[str, JudgedMentions] = {}
    systems.update(encoder_systems(config, bench, notes, judged))
    verdict = functools.cache(lambda: Verdict.load(config.model, config.dtype))
    systems.update(verdict_systems(verdict, bench, judged, config.verdict_weights))
    check_fusions(config.fuse, systems)
    results = run_systems(config, bench, systems, out / "rankings")
    if config.paraphrases:
        notes["paraphrases"] = paraphrases(config, bench)
    report = {
        "config": dataclasses.asdict(config),
        "corpus": {
            "documents": len(bench.documents),
            "mentions": sum(len(d.spans) for d in bench.documents),
            "queries": [
                {"type": q.type, "query": q.text, "relevant": len(q.relevant)}
                for q in bench.queries
            ],
        },
        "spans": config.spans,
        **notes,
        **detection_cost(results),
        "systems": results,
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    atomic.write_text(out / "report.json", json.dumps(report, indent=1))
    atomic.write_text(out / "report.md", markdown(report))
    return report


def check_config(config: EvaluateConfig) -> None:
    """Fail before any work on systems or spans that do not exist or do not go together."""
    unknown = set(config.systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")
    if config.spans not in SPANS:
        raise ValueError(f"spans must be one of {SPANS}, got {config.spans!r}")
    if config.spans == "detected" and "minilm_mentions" in config.systems:
        raise ValueError("minilm_mentions embeds gold mention strings: not with detected spans")
    check_threshold(config.detector_threshold)
    heads = set(head_paths(config))
    if config.spans == "detected":
        heads |= {name + GOLD for name in heads}
    if set(config.verdict) - heads:
        unknown = sorted(set(config.verdict) - heads)
        raise ValueError(f"--verdict {unknown}: not head systems of this run ({sorted(heads)})")


def query_benchmark(config: EvaluateConfig) -> Benchmark:
    """The pooled corpus with its queries; an error if no type is left to query."""
    words = load_query_words(config.queries) if config.queries else None
    bench = build_benchmark(config.data, words, config.catch_all_queries)
    if not bench.queries:
        raise ValueError(f"{', '.join(config.data)}: no entity types to query (only catch-alls?)")
    return bench


def baseline_systems(
    config: EvaluateConfig, bench: Benchmark
) -> dict[str, Callable[[], np.ndarray]]:
    """The systems that need no model of ours: BM25 and MiniLM over whole documents, and
    MiniLM over the gold mention strings."""
    doc_texts = [d.text for d in bench.documents]
    query_texts = [q.text for q in bench.queries]
    systems: dict[str, Callable[[], np.ndarray]] = {}
    if "bm25" in config.systems:
        systems["bm25"] = lambda: baselines.bm25_scores(doc_texts, query_texts)
    if not {"minilm", "minilm_mentions"} & set(config.systems):
        return systems
    encoder = MiniLM.from_directory(config.minilm) if config.minilm else MiniLM.load()
    if "minilm" in config.systems:
        systems["minilm"] = lambda: baselines.sentence_scores(encoder, doc_texts, query_texts)
    if "minilm_mentions" in config.systems:
        _, mention_docs, mention_texts = mention_table(bench)
        systems["minilm_mentions"] = lambda: baselines.mention_string_scores(
            encoder, mention_texts, mention_docs, len(doc_texts), query_texts
        )
    return systems


def check_fusions(fuse: tuple[str, ...], systems: dict) -> None:
    """Each fused pair "A+B" names two systems that run."""
    for pair in fuse:
        first, _, second = pair.partition("+")
        if first not in systems or second not in systems:
            raise ValueError(f"--fuse {pair}: both systems must run; running {sorted(systems)}")


def run_systems(
    config: EvaluateConfig,
    bench: Benchmark,
    systems: dict[str, Callable[[], np.ndarray]],
    rankings_dir: Path,
) -> dict[str, dict]:
    """System name -> metrics (and seconds), running each system and then each fused pair;
    writes each one's rankings to rankings_dir/<name>.jsonl."""
    relevant = [q.relevant for q in bench.queries]
    seen = set(json.loads(Path(config.seen_types).read_text())) if config.seen_types else None
    groups = read_groups(config.groups, bench) if config.groups else None
    results, scores = {}, {}
    for name, scores_fn in [*systems.items(), *((p, None) for p in config.fuse)]:
        started = time.perf_counter()
        if scores_fn is None:  # a fused pair: both of its systems have run
            first, _, second = name.partition("+")
            scores[name] = fused(scores[first], scores[second])
        else:
            scores[name] = scores_fn()
        rankings = rank(scores[name], config.seed)
        results[name] = evaluate_rankings(rankings, relevant)
        if seen is not None:
            per_query = results[name]["per_query_r_precision"]
            results[name] |= seen_and_unseen(per_query, bench, seen)
        if groups is not None:
            per_query = results[name]["per_query_r_precision"]
            results[name]["groups"] = group_scores(per_query, bench, groups)
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
        write_rankings(rankings_dir / f"{name}.jsonl", bench, rankings)
        logging.info("%s: R-Precision %.3f", name, results[name]["r_precision"])
    return results


def paraphrases(config: EvaluateConfig, bench: Benchmark) -> dict[str, dict]:
    """System -> R-Precision of each wording of the listed types, and its spread over them."""
    worded = paraphrase_benchmark(config.paraphrases, bench)
    systems = baseline_systems(config, worded)
    systems.update(encoder_systems(config, worded, {}))
    relevant = [q.relevant for q in worded.queries]
    spread = {}
    for name, scores_fn in systems.items():
        per_query = evaluate_rankings(rank(scores_fn(), config.seed), relevant)
        spread[name] = paraphrase_spread(per_query["per_query_r_precision"], worded)
    return spread


def detection_cost(results: dict[str, dict]) -> dict:
    """{"detected_vs_gold": system -> R-Precision on detected and on gold spans, and the
    relative change}, for each system that ran on both (none with gold spans alone)."""
    pairs = {}
    for name, gold in results.items():
        if name.endswith(GOLD) and (detected := results.get(name.removesuffix(GOLD))):
            on_gold, on_detected = gold["r_precision"], detected["r_precision"]
            change = (on_detected - on_gold) / on_gold if on_gold else float("nan")
            pairs[name.removesuffix(GOLD)] = {
                "detected": on_detected,
                "gold": on_gold,
                "change": change,
            }
    return {"detected_vs_gold": pairs} if pairs else {}


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


def seen_and_unseen(per_query: list[float], bench: Benchmark, seen: set[str]) -> dict[str, float]:
    """Macro R-Precision over the queries of types seen in training, and over the rest (NaN
    for a part without queries)."""
    parts = {}
    for part, keep in (("seen", True), ("unseen", False)):
        picked = [i for i, q in enumerate(bench.queries) if (q.type in seen) == keep]
        part_score = np.mean([per_query[i] for i in picked]) if picked else np.nan
        parts[f"{part}_r_precision"] = float(part_score)
    return parts


def write_rankings(path: Path, bench: Benchmark, rankings: list[np.ndarray]) -> None:
    """One JSON line per query: type, query text and document ids best first (at least R)."""
    lines = []
    for query, ranking in zip(bench.queries, rankings, strict=True):
        top = ranking[: max(len(query.relevant), 100)]
        ids = [bench.documents[i].id for i in top]
        lines.append(json.dumps({"type": query.type, "query": query.text, "ranking": ids}))
    atomic.write_text(path, "\n".join(lines) + "\n")


def summary(report: dict) -> str:
    """The report's head as Markdown: the corpus, the detector if one ran, one table of systems
    (what the command line prints; markdown(report) begins with it)."""
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
        lines += [detector_line(report), ""]
    lines += [
        f"| system | R-Precision |{extra} P@10 | seconds |",
        "|---|---|---|---|" + ("---|---|" if split else ""),
    ]
    for n, r in systems.items():
        cells = f" {r['unseen_r_precision']:.3f} | {r['seen_r_precision']:.3f} |" if split else ""
        lines.append(
            f"| {n} | {r['r_precision']:.3f} |{cells} {r['p_at_10']:.3f} | {r['seconds']} |"
        )
    return "\n".join(lines + breakdown_table(report))


def detector_line(report: dict) -> str:
    """What the detector found, and what reading its spans cost each model system."""
    d, corpus = report["detector"], report["corpus"]
    per_document = d.get("mentions_per_document", d["mentions"] / max(corpus["documents"], 1))
    # Older reports lack the operating point and the end recall: their line is as it was.
    point = ""
    if "threshold" in d:
        point = ", Viterbi" if d["threshold"] is None else f", threshold {d['threshold']:g}"
    ends = f", end recall {d['end_recall']:.3f}" if "end_recall" in d else ""
    line = (
        f"Model systems read detected spans ({d['path']}{point}): {d['mentions']} mentions "
        f"({per_document:.2f} per document; gold {corpus['mentions'] / corpus['documents']:.2f}), "
        f"span precision {d['precision']:.3f}, recall {d['recall']:.3f}, F1 {d['f1']:.3f}{ends}."
    )
    costs = report.get("detected_vs_gold", {})
    if costs:
        line += (
            " R-Precision with detected against gold spans: "
            + "; ".join(
                f"{name} {c['detected']:.3f} vs {c['gold']:.3f} ({c['change']:+.1%})"
                for name, c in costs.items()
            )
            + "."
        )
    return line


def markdown(report: dict) -> str:
    """The report as Markdown: the summary, then a table of R-Precision per query."""
    systems = report["systems"]
    lines = [
        summary(report),
        "",
        "| type | query | R | " + " | ".join(systems) + " |",
        "|---|---|---|" + "---|" * len(systems),
    ]
    for i, q in enumerate(report["corpus"]["queries"]):
        cells = " | ".join(f"{r['per_query_r_precision'][i]:.3f}" for r in systems.values())
        lines.append(f"| {q['type']} | {q['query']} | {q['relevant']} | {cells} |")
    return "\n".join(lines) + "\n"
