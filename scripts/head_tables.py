"""The head's generated tables: descriptions, reading, verdict, leave-types-out, signals."""

from __future__ import annotations

import json

from table_format import RESULTS, bold, load, num, table

BASELINES = ("bm25", "minilm")
DESCRIPTION_SYSTEMS = {
    "bm25": "BM25",
    "minilm": "MiniLM, whole sentence",
    "raw": "raw `attn@15` tap",
    "head-previous": "head shipped when the issue opened",
    "head-early": "head shipped two before (200 steps)",
    "head-template": "head shipped before this one (template, no context part)",
    "head-shipped": "shipped head (template + context part)",
    "head-shipped+verdict": "**shipped head, first 30 hits reranked by the verdict** (`search`)",
    "head-shipped+minilm": "shipped head + MiniLM, fused (reference)",
}


def descriptions() -> str:
    """The description set with gold spans: groups, the ratio to the best baseline, wordings."""
    run = load("evaluate/descriptions/report.json")
    systems, worded = run["systems"], run["paraphrases"]
    best = max(systems[b]["groups"]["compositional"] for b in BASELINES)
    rows = []
    for name, label in DESCRIPTION_SYSTEMS.items():
        groups, spread = systems[name]["groups"], worded.get(name)
        compositional = groups["compositional"]
        cells = [num(compositional), f"{num(compositional / best, 2)}×", num(groups["base"])]
        cells += [num(spread[k]) for k in ("mean", "worst", "spread")] if spread else [""] * 3
        rows.append([label, *cells])
    header = (
        "gold spans | compositional (48) | × best baseline | base types (25) | "
        "wordings: mean | worst wording | spread"
    )
    return table(header, rows)


def descriptions_detected() -> str:
    """The same set through the shipped detector: R-Precision against gold spans."""
    systems = load("evaluate/descriptions_detected/report.json")["systems"]
    gold_run = load("evaluate/descriptions/report.json")["systems"]
    rows = []
    for name in (n for n in DESCRIPTION_SYSTEMS if n in systems):  # fusions need no spans
        label = DESCRIPTION_SYSTEMS[name]
        gold = gold_run[name]["groups"]
        found = systems[name]["groups"]
        rows.append(
            [label, *(f"{num(found[g])} ({num(gold[g])})" for g in ("compositional", "base"))]
        )
    return table("detected spans (gold spans) | compositional | base types", rows)


def verdict_weight() -> str:
    """The verdict's weight beside the head's score, chosen on the choosing half."""
    report = load("verdict_weight/report.json")
    rows = [
        [
            bold(num(r["weight"], 0), r["weight"] == report["chosen"]["weight"]),
            *(num(r[part]) for part in ("choose", "report", "base")),
        ]
        for r in report["rows"]
    ]
    return table("weight of the verdict | choosing half | reporting half | base types", rows)


def query_reading() -> str:
    """Where a head reads a description: the weight of the head phrase against the last token."""
    heads = {"previous": "head at the issue's start", "shipped": "shipped head"}
    runs = {k: load(f"query_reading/{k}_head/report.json")["rows"] for k in heads}
    rows = []
    for i, row in enumerate(runs["shipped"]):
        cells = [num(runs[k][i][part]) for k in heads for part in ("choose", "report", "base")]
        rows.append([num(row["head_weight"], 2), *cells])
    header = " | ".join(
        ["weight of the head phrase"]
        + [f"{h}: {p}" for h in heads.values() for p in ("choosing half", "reporting half", "base")]
    )
    return table(header, rows)


def leave_types_out() -> str:
    """Held-out types' R-Precision: each variant at its best step, by raw-tap mix."""
    report = load("head_lto/report.json")
    chosen = report["chosen"]
    rows = [
        [
            r["variant"],
            str(r["step"]),
            num(r["raw_mix"], 2),
            bold(num(r["held_out_r_precision"]), r == chosen),
        ]
        for r in report["rows"]
    ]
    return table("variant | best step | raw-tap mix | held-out types, R-Precision", rows)


def held_out_curve() -> str:
    """Held-out types' R-Precision as training goes on (the pure head, no mix)."""
    runs = {
        "default": "default",
        "words": "words",
        "examples": "examples",
        "default_4000_steps": "default, 4000 steps",
    }
    curves = {}
    for name in runs:
        lines = (RESULTS / "head_lto" / "heads" / name / "metrics.jsonl").read_text().split("\n")
        curves[name] = {
            r["step"]: r["select_r_precision"] for r in map(json.loads, filter(None, lines))
        }
    steps = [50, 100, 200, 250, 500, 1000, 1500, 2000, 3000]
    rows = [[runs[n], *(num(curves[n][s]) if s in curves[n] else "" for s in steps)] for n in runs]
    return table(" | ".join(["step", *map(str, steps)]), rows)


def sentence_signal() -> str:
    """Head + weight x a sentence signal: held-out types (choosing) and the description set."""
    report = load("sentence_signal/report.json")
    rows = [
        [
            r["signal"],
            bold(num(r["weight"], 2), r["weight"] == report["chosen"][r["signal"]]),
            num(r["held_out"]),
            num(r["compositional"]),
            num(r["base"]),
        ]
        for r in report["rows"]
    ]
    header = "signal | weight | held-out types | compositional descriptions | base types"
    return table(header, rows)


TABLES = {
    "descriptions": descriptions,
    "descriptions-detected": descriptions_detected,
    "query-reading": query_reading,
    "verdict-weight": verdict_weight,
    "head-leave-types-out": leave_types_out,
    "head-held-out-curve": held_out_curve,
    "sentence-signal": sentence_signal,
}
