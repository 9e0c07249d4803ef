"""Scores by group of queries, and how far a system's score moves across wordings of one type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ner_jax.data import Benchmark, Query, load_label_lists


def read_groups(path: str, bench: Benchmark) -> dict[str, list[str]]:
    """{group: [labels]} from a JSON file; every label must be one of the benchmark's queries."""
    groups = load_label_lists(path, "groups")
    queried = {q.type for q in bench.queries}
    for group, labels in groups.items():
        if missing := sorted(set(labels) - queried):
            raise ValueError(f"groups file {path}: group {group!r} names {missing}, not queried")
    return groups


def group_scores(
    per_query: Sequence[float], bench: Benchmark, groups: dict[str, list[str]]
) -> dict[str, float]:
    """Macro R-Precision over each group's queries."""
    at = {q.type: i for i, q in enumerate(bench.queries)}
    return {g: float(np.mean([per_query[at[t]] for t in labels])) for g, labels in groups.items()}


def paraphrase_benchmark(path: str, bench: Benchmark) -> Benchmark:
    """The benchmark's documents with one query per wording of each listed type
    ({label: [wordings]} in the JSON file); each wording has its type's relevant documents."""
    wordings = load_label_lists(path, "paraphrases")
    by_type = {q.type: q for q in bench.queries}
    if missing := sorted(set(wordings) - set(by_type)):
        raise ValueError(f"paraphrases file {path}: {missing} are not queried types")
    queries = tuple(
        Query(label, text, by_type[label].relevant)
        for label, texts in wordings.items()
        for text in dict.fromkeys(texts)
    )
    return Benchmark(bench.documents, queries)


def paraphrase_spread(per_query: Sequence[float], bench: Benchmark) -> dict:
    """R-Precision of every wording of each type; over types, the mean of the wordings' mean,
    of their worst, and of their spread (best minus worst)."""
    by_type: dict[str, dict[str, float]] = {}
    for query, score in zip(bench.queries, per_query, strict=True):
        by_type.setdefault(query.type, {})[query.text] = float(score)
    scores = [np.array(list(s.values())) for s in by_type.values()]
    return {
        "mean": float(np.mean([s.mean() for s in scores])),
        "worst": float(np.mean([s.min() for s in scores])),
        "spread": float(np.mean([s.max() - s.min() for s in scores])),
        "types": by_type,
    }


def breakdown_table(report: dict) -> list[str]:
    """Markdown lines: each system's groups, then its paraphrase spread (empty without them)."""
    systems, lines = report["systems"], []
    groups = next((r["groups"] for r in systems.values() if "groups" in r), None)
    if groups:
        lines += ["", "| system | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
        for name, r in systems.items():
            cells = " | ".join(f"{r['groups'][g]:.3f}" for g in groups)
            lines.append(f"| {name} | {cells} |")
    if spread := report.get("paraphrases"):
        lines += [
            "",
            "| system | wordings: mean R-Precision | worst wording | spread (best - worst) |",
            "|---|---|---|---|",
        ]
        for name, s in spread.items():
            lines.append(f"| {name} | {s['mean']:.3f} | {s['worst']:.3f} | {s['spread']:.3f} |")
    return lines
