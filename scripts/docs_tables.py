"""Regenerates the markdown tables in README.md and docs/*.md from results/ (--check: report)."""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

import head_tables
from table_format import RESULTS, ROOT, bold, load, ms, num, table

# A generated table sits between a `<!-- table: NAME -->` line and a `<!-- /table -->` line,
# with a blank line either side so that markdown renders it as a table.
MARKED = re.compile(r"(<!-- table: ([\w-]+) -->\n)(.*?)(<!-- /table -->)", re.S)

CORPORA = {"crossner_test": "CrossNER test, pooled", "multiconer_dev": "MultiCoNER II en-dev"}
DOMAINS = ("ai", "literature", "music", "politics", "science")
# The probe tables show these blocks (every block is in results/probe/).
GEMMA_BLOCKS = [0, 3, 5, 6, 7, 8, 9, 12, 14, 15, 16, 17]
SMOLLM2_BLOCKS = [0, 5, 10, 13, 16, 17, 20, 21, 22, 23, 25, 27, 29]
WINDOWS = {"no_context": "token alone", "before_only": "2 before", "after_4": "1 before, 4 after"}
HEADLINE = {
    "bm25": "BM25 (words)",
    "minilm": "MiniLM, whole sentence",
    "minilm_mentions": "MiniLM on the gold mention strings",
    "raw": "raw `attn@15` tap, no head",
    "head-paper": "the paper's recipe (triplet head on v@9)",
    "head-default": "the `default` recipe (2000 steps, raw mix 0.5, shipped first)",
    "head-early": "the recipe shipped before (200 steps, chosen on held-out types)",
    "head-examples_early": "**the shipped recipe** (type names read in a template, 300 steps)",
}
SIDES = {  # seconds key in bench_encode's rows -> what ran
    "ours_end_to_end": "ours, end to end (`index` path)",
    "ours_forward": "ours, forward alone",
    "reference": "transformers, fp32, base model + `v_proj` hook",
    "reference_lm_head": "transformers with the LM head",
}
SEARCHES = {  # key prefix in bench_index's rows -> column
    "scann": "ScaNN search p50 / p99 ms",
    "exact": "exact search p50 / p99 ms",
    "scann_e2e": "end to end, ScaNN p50 / p99 ms",
    "exact_e2e": "end to end, exact p50 / p99 ms",
}
TARGETS = {  # the targets: summary key in bench.json -> (figure, target, lowest, highest)
    "encode_speedup_vs_reference": ("end-to-end encoding vs the transformers reference", "≥ 4×", 4),
    "forward_fraction_of_peak": ("forward FLOP/s over the measured fp32 matmul peak", "≥ 0.5", 0.5),
    "query_p50_ms_1m": ("query p50 / p99 at 1M mentions, end to end", "p50 ≤ 25 ms", 0, 25),
    "scann_recall_at_100_1m": ("ScaNN recall@100 against exact at 1M", "≥ 0.98", 0.98),
    "index_bytes_per_mention": ("vector index bytes per mention, all data", "≤ 600", 0, 600),
    "index_peak_rss_mb": ("peak RSS of `ner-jax index` on pooled CrossNER", ""),
}


def probe(name: str, blocks: list[int]) -> str:
    """Raw R-Precision of chosen blocks' v, attn and resid_out; the table's best cell in bold."""
    found = load(f"probe/{name}.json")["table"]
    rows = {c: {r["block"]: r["r_precision"] for r in found[c]} for c in ("v", "attn", "resid_out")}
    best = max(rows[c][b] for c in rows for b in blocks)
    labels = {"v": "v (value vectors)", "attn": "attn (before o_proj)", "resid_out": "resid_out"}
    body = [
        [labels[c], *(bold(num(rows[c][b]).removeprefix("0"), rows[c][b] == best) for b in blocks)]
        for c in rows
    ]
    return table(" | ".join(["block", *map(str, blocks)]), body)


def baselines(corpus: str) -> str:
    """The bare-query benchmark run: R-Precision and P@10 per system; the best in bold."""
    run = load(f"evaluate/{corpus}_gemma3-270m.json")
    best = max(s["r_precision"] for s in run["systems"].values())
    rows = []
    for name, s in run["systems"].items():
        rp = bold(num(s["r_precision"]), s["r_precision"] == best)
        rows.append(["raw (attn@15)" if name == "raw" else name, rp, num(s["p_at_10"])])
    return table(f"system | R-Precision ({len(run['corpus']['queries'])} queries) | P@10", rows)


def protocols(model: str) -> str:
    """Both zero-shot protocols: A (CrossNER, all/unseen/seen types) and B (MultiCoNER)."""
    a = load(f"protocol_a/{model}/evaluate/report.json")["systems"]
    b = load(f"protocol_b/{model}/evaluate/report.json")["systems"]

    def selection(protocol: str, system: str) -> str:
        record = RESULTS / protocol / model / "heads" / system.removeprefix("head-") / "head.json"
        if not system.startswith("head-") or "+" in system or not record.is_file():
            return ""
        return num(json.loads(record.read_text())["metrics"]["select_r_precision"])

    rows = []
    for name, ra in a.items():
        picked = [selection("protocol_a", name), selection("protocol_b", name)]
        cells = [ra["r_precision"], ra["unseen_r_precision"], ra["seen_r_precision"]]
        rb = [num(b[name]["r_precision"])] if name in b else [""]
        rows.append([name, " / ".join(picked) if any(picked) else "", *map(num, cells), *rb])
    header = "system | selection A / B | A: CrossNER, all | unseen | seen | B: MultiCoNER"
    return table(header, rows)


def headline() -> str:
    """Both protocols: the ablation runs, and the shipped recipe from its own run beside them."""
    a, b = ({} for _ in range(2))
    for run in ("evaluate", "evaluate_early"):  # the later run adds the shipped recipe
        a |= load(f"protocol_a/gemma3-270m/{run}/report.json")["systems"]
        b |= load(f"protocol_b/gemma3-270m/{run}/report.json")["systems"]
    rows = []
    for name, label in HEADLINE.items():
        cells = [a[name]["r_precision"], a[name]["unseen_r_precision"], b[name]["r_precision"]]
        rows.append([label, *(bold(num(x), name == "head-examples_early") for x in cells)])
    return table("gemma3-270m, R-Precision | A: CrossNER | A: unseen types | B: MultiCoNER", rows)


def reduction() -> str:
    """The shipped head at full width against reduced to 384-d, per evaluation corpus."""
    rows = []
    for corpus in ("crossner_test", "multiconer_dev"):
        run = load(f"evaluate/reduction_{corpus}/report.json")
        s, docs = run["systems"], run["corpus"]["documents"]
        both = {n: f"{num(s[n]['r_precision'])} ({num(s[n]['p_at_10'])})" for n in s}
        other = next(n for n in s if n not in ("head", "head-full"))  # fitted on the other corpus
        fitted = "MultiCoNER train" if other == "head-mc384" else "CrossNER train"
        label = f"{CORPORA[corpus]} ({docs:,} docs, {len(run['corpus']['queries'])} queries)"
        rows.append([label, both["head-full"], f"{both[other]}, {fitted}", both["head"]])
    return table("evaluated on | 1524-d | 384-d, fitted on the other corpus | 384-d, shipped", rows)


HELD_OUT = {
    "multiconer": "MultiCoNER II en-dev",
    "crossner": "CrossNER test, pooled",
    "fewnerd": "Few-NERD INTER dev, every 8th",
}


def decoding(threshold) -> str:
    return "one Viterbi path" if threshold is None else f"ends ≥ {threshold:g}"


def change(after: float, before: float) -> str:
    return f"{(after - before) / before:+.1%}".replace("-", "−")


def detector_held_out() -> str:
    """Per corpus, the detector trained without it: detection and retrieval, detected vs gold,
    at the chosen operating point, the one its own selection splits chose, one Viterbi path
    and every word."""
    rows, report = [], load("detector/report.json")
    for corpus, label in HELD_OUT.items():
        entry = report["folds"][f"{corpus}/default"]
        result = entry["test"][f"test_{corpus}"]
        head, raw, base = result["head"], result["raw"], result["baselines"]
        best = max(base.values())
        chosen, in_domain = entry["record"]["threshold"], entry["record"]["in_domain_threshold"]
        shown = {chosen: " (chosen)"}
        if in_domain == chosen:
            shown[chosen] = " (chosen; the in-domain choice too)"
        for threshold, note in ((in_domain, " (in-domain choice)"), (None, ""), (0.0, "")):
            shown.setdefault(threshold, note)
        points = zip(head["points"], raw["points"], strict=True)
        by_threshold = {p["threshold"]: (p, r) for p, r in points}
        for i, (threshold, note) in enumerate(shown.items()):
            h, r = by_threshold[threshold]
            s = h["per_split"][0]
            first = f"{label} ({report['splits'][f'test_{corpus}']:,} sentences)" if i == 0 else ""
            rows.append([
                first,
                decoding(threshold) + note,
                f"{num(s['precision'], 2)} / {num(s['recall'], 2)}",
                num(s["end_recall"], 2),
                num(h["mentions_per_document"], 1),
                f"{num(head['gold']['r_precision'])} → {bold(num(h['r_precision']), i == 0)}"
                f" ({change(h['r_precision'], head['gold']['r_precision'])})",
                f"{num(raw['gold']['r_precision'])} → {num(r['r_precision'])}"
                f" ({change(r['r_precision'], raw['gold']['r_precision'])})",
                f"{num(best)} ({'BM25' if base['bm25'] == best else 'MiniLM'})" if i == 0 else "",
                f"{h['r_precision'] / best:.2f}×",
            ])  # fmt: skip
    header = (
        "held-out test | decoding | span P / R | end R | mentions per sentence "
        "| head: gold → detected | raw tap: gold → detected | best baseline | head detected ÷ "
        "baseline"
    )
    return table(header, rows)


def detector_selection() -> str:
    """The operating point: each fold's detector on its held-out corpus's selection splits."""
    report = load("detector/report.json")
    curves = report["out_of_corpus"]["default"]
    chosen = report["folds"]["all/default"]["record"]["threshold"]
    rows = []
    for i, point in enumerate(curves["multiconer"]):
        threshold = point["threshold"]
        scores = [curves[c][i]["r_precision"] for c in HELD_OUT]
        per_doc = [curves[c][i]["mentions_per_document"] for c in HELD_OUT]
        mark = threshold == chosen
        rows.append([
            bold(decoding(threshold), mark),
            *(f"{num(r)} ({num(m, 1)})" for r, m in zip(scores, per_doc, strict=True)),
            bold(num(statistics.mean(scores)), mark),
        ])  # fmt: skip
    header = "decoding | MultiCoNER en-train90, unused | CrossNER dev | Few-NERD dev sample | mean"
    return table(header, rows)


def detector_casing() -> str:
    """CrossNER test sentences as written and lower-cased: the detector trained without CrossNER
    and the shipped one."""
    report = load("detector/report.json")
    rows = []
    for fold, label in (
        ("crossner/default", "trained without CrossNER"),
        ("all/default", "shipped"),
    ):
        c = report["folds"][fold]["test"]["casing"]
        for case in ("cased", "lower"):
            s = c[case]
            rows.append([
                label if case == "cased" else "",
                "as written" if case == "cased" else "lower-cased",
                num(s["recall"], 2), num(s["end_recall"], 2), num(s["precision"], 2),
                f"{c['same_spans']:.0%}" if case == "cased" else "",
            ])  # fmt: skip
    header = "detector | text | span R | end R | span P | sentences with the same spans"
    return table(header, rows)


def detector_cost() -> str:
    report = load("bench_detector.json")
    rows = []
    for name, r in report["settings"].items():
        rows.append([
            name, decoding(r["threshold"]), num(r["mentions_per_document"], 2),
            f"{r['index_bytes'] / report['documents']:,.0f}",
            f"{r['vector_bytes_per_mention']:,.0f}", num(r["seconds"], 1),
            f"{r['mentions_ratio']:.2f}× / {r['bytes_ratio']:.2f}× / {r['time_ratio']:.2f}×",
        ])  # fmt: skip
    header = (
        "detector | decoding | mentions per sentence | index bytes per sentence "
        "| vector bytes per mention | index seconds | mentions / bytes / time vs before"
    )
    return table(header, rows)


def detector_ablation() -> str:
    rows, variants = [], load("detector_ablation/report.json")["variants"]
    for name in ("no_context", "before_only", "default", "after_4"):
        record, log = variants[name]["record"], variants[name]["log"]
        select = next(entry["f1"] for entry in log if entry["step"] == record["step"])
        window = f"{WINDOWS.get(name, name)} {tuple(record['context'])}"
        test = [record["test"][f"test_{s}"]["f1"] for s in ("crossner_pooled", "multiconer_dev")]
        rows.append([window, num(select), *map(num, test)])
    header = "window (before, after) | CrossNER dev F1 | CrossNER test pooled | MultiCoNER en-dev"
    return table(header, rows)


def detected() -> str:
    """Retrieval with detected instead of gold spans through `ner-jax evaluate`."""
    rows = []
    for corpus in ("multiconer_dev",):
        report = load(f"evaluate/{corpus}_detected/report.json")
        s, found = report["systems"], report["detector"]
        docs, queries = report["corpus"]["documents"], len(report["corpus"]["queries"])
        label = f"{CORPORA[corpus]} ({docs:,} sentences, {queries} queries)"
        detection = (
            f"{num(found['mentions_per_document'], 1)} / {num(found['end_recall'], 2)}"
            f" / {num(found['precision'], 2)}"
        )
        for i, system in enumerate(("raw", "head")):
            before, after = s[f"{system}@gold"]["r_precision"], s[system]["r_precision"]
            first = [label, detection] if i == 0 else ["", ""]
            rows.append([*first, system, num(before), num(after), change(after, before)])
        words = f"{num(s['bm25']['r_precision'])} / {num(s['minilm']['r_precision'])}"
        rows.append(["", "", "BM25 / MiniLM (need no spans)", words, "", ""])
    header = (
        "corpus | mentions per sentence / end R / span P | system | gold spans | detected spans "
        "| change"
    )
    return table(header, rows)


def vector_index() -> str:
    """ScaNN against exact search at every size of the whole-suite run; targets at 1M in bold."""
    rows = []
    for r in load("bench.json")["vector_index"]["rows"]:
        million = r["n"] == 1_000_000
        data = "real (CrossNER)" if r["data"] == "real" else r["data"]
        times = [ms(r[f"{k}_p50_ms"], r[f"{k}_p99_ms"]) for k in SEARCHES]
        times[2] = bold(times[2], million)  # end to end with ScaNN
        cells = [data, f"{r['n']:,}", bold(num(r["scann_recall_at_100"]), million), *times]
        rows.append([*cells, bold(num(r["scann_bytes_per_mention"], 0), million)])
        rows[-1].append(num(r["scann_build_s"], 1))
    header = ["vectors", "mentions", "ScaNN recall@100", *SEARCHES.values()]
    return table(" | ".join([*header, "ScaNN bytes per mention", "ScaNN build s"]), rows)


def targets() -> str:
    b = load("bench.json")
    gemma, peak = b["encode"]["rows"][0], b["encode"]["matmul"]["peak_gflops"]
    million = next(r for r in b["vector_index"]["rows"] if r["n"] == 1_000_000)
    measured = {
        "encode_speedup_vs_reference": f"{num(b['encode_speedup_vs_reference'], 2)}×",
        "forward_fraction_of_peak": f"{num(b['forward_fraction_of_peak'])} "
        f"({num(gemma['forward_gflops'], 0)} of {num(peak, 0)} GFLOP/s)",
        "query_p50_ms_1m": f"{ms(b['query_p50_ms_1m'], b['query_p99_ms_1m'])} ms (search alone "
        f"{ms(million['scann_p50_ms'], million['scann_p99_ms'])} ms)",
        "scann_recall_at_100_1m": num(b["scann_recall_at_100_1m"]),
        "index_bytes_per_mention": f"{num(b['index_bytes_per_mention'], 0)} at 1M",
        "index_peak_rss_mb": f"{num(b['index_peak_rss_mb'], 0)} MB",
    }
    rows = []
    for key, (what, goal, *bounds) in TARGETS.items():
        low, high = (*bounds, float("inf"))[:2] if bounds else (None, None)
        met = "" if low is None else "met" if low <= b[key] <= high else "**not met**"
        rows.append([f"{what} (`{key}`)", measured[key], goal, met])
    return table("figure (key in `results/bench.json`) | measured | target | ", rows)


def encoding() -> str:
    """Ours against transformers per model: fp32 from the whole suite, bf16 from its own run."""
    runs = load("bench.json")["encode"]["rows"]
    runs.insert(1, load("bench_encode_bf16.json")["rows"][0])
    rows = []
    for r in runs:
        s = r["seconds"]  # the bf16 run skipped the LM head
        model = "{model} (block {tap_block}: {blocks_ours} of {blocks_reference} blocks)"
        if r["dtype_ours"] == "bfloat16":
            model = "{model}, ours in bf16 (separate run)"
        for i, key in enumerate(k for k in SIDES if k in s):
            rates = [num(r[f"{key}_{unit}_per_s"], 0) for unit in ("tokens", "mentions")]
            ratio = bold(num(s["reference"] / s[key], 2), i == 0)
            rows.append([model.format(**r) if i == 0 else "", SIDES[key], num(s[key], 1)])
            rows[-1] += [*rates, ratio]
    return table("model (tap) | side | s / pass | real tokens/s | mentions/s | × reference", rows)


def training(path: str) -> str:
    rows, data = [], load(path)
    for r in data.get("training", data)["rows"]:
        devices = f"{r['devices']}{' (virtual)' if r['devices'] > 1 else ''}"
        cells = [f"{r['examples_per_step']:,}", num(r["step_ms_median"], 2)]
        rows.append([r["loss"], devices, *cells, num(r["examples_per_second"], 0)])
    return table("loss | devices | examples/step | step ms | examples/s", rows)


def scann_tuning() -> str:
    """At 1M synthetic mentions: recall and search time by leaves searched, with and without
    SOAR (8 candidates per k re-scored), and each tree's bytes per mention."""
    row = load("bench_index_1m_sweep_soar.json")["rows"][0]
    trees = {"scann": "plain (shipped)", "compare": "SOAR, λ = 1.5"}
    rows = []
    for tree, name in trees.items():
        for s in row["compare_sweep" if tree == "compare" else "sweep"]:
            if s["pre_reorder"] != 8 * row["k"] or s["leaves_to_search"] < 50:
                continue
            leaves = f"{s['leaves_to_search']} of {s['num_leaves']}"
            cells = [num(s["recall_at_k"]), ms(s["p50_ms"], s["p99_ms"])]
            bytes_ = num(row[f"{tree}_bytes_per_mention"], 0)
            rows.append([name, leaves, *cells, bytes_])
            name = ""
    return table(
        "tree | leaves searched | recall@100 | search p50 / p99 ms | bytes per mention", rows
    )


def query_1m() -> str:
    """The tuned tree at 1M: search alone, end to end, and the description's embedding."""
    data = load("bench_index_1m.json")
    row, floor = data["rows"][0], data["query_floor"]
    rows = [
        ["ScaNN recall@100 against exact", num(row["scann_recall_at_100"], 4), "≥ 0.98"],
        [
            "ScaNN search alone, p50 / p99 ms",
            ms(row["scann_p50_ms"], row["scann_p99_ms"]),
            "p50 ≤ 3",
        ],
        [
            "end to end, p50 / p99 ms",
            ms(row["scann_e2e_p50_ms"], row["scann_e2e_p99_ms"]),
            "p50 ≤ 25",
        ],
        ["embedding a description, p50 ms", num(floor["embed_p50_ms"], 1), ""],
        [
            f"its floor: reading {num(floor['weights_mb'], 0)} MB of weights once, ms",
            num(floor["embed_floor_ms"], 1),
            "",
        ],
        ["ScaNN bytes per mention", num(row["scann_bytes_per_mention"], 0), "≤ 600"],
    ]
    return table("at 1M mentions (synthetic, 384-d) | measured | target", rows)


def serve_load() -> str:
    """`ner-jax serve` under load: one client and many, micro-batched and one at a time."""
    rows = []
    for name, server in load("bench_serve.json")["servers"].items():
        for i, r in enumerate(server["loads"]):
            answered = f"{r['answered']} of {r['requests']}"
            cells = [ms(r["p50_ms"], r["p99_ms"]), num(r["requests_per_s"], 1)]
            rows.append([name if i == 0 else "", str(r["clients"]), answered, *cells])
            rows[-1].append(num(r["mean_batch"], 1))
    return table("server | clients | answered | p50 / p99 ms | requests/s | mean batch", rows)


TABLES = {
    "headline": headline,
    "probe-gemma": lambda: probe("gemma3-270m_crossner", GEMMA_BLOCKS),
    "probe-smollm2": lambda: probe("smollm2-135m_crossner", SMOLLM2_BLOCKS),
    "baselines-crossner": lambda: baselines("crossner"),
    "baselines-multiconer": lambda: baselines("multiconer"),
    "protocols-gemma": lambda: protocols("gemma3-270m"),
    "protocols-smollm2": lambda: protocols("smollm2-135m"),
    "reduction": reduction,
    "detector-held-out": detector_held_out,
    "detector-selection": detector_selection,
    "detector-casing": detector_casing,
    "detector-cost": detector_cost,
    "detector-ablation": detector_ablation,
    "detected-spans": detected,
    "vector-index": vector_index,
    "targets": targets,
    "encoding": encoding,
    "training-suite": lambda: training("bench.json"),
    "training-alone": lambda: training("bench_training.json"),
    "scann-tuning": scann_tuning,
    "query-1m": query_1m,
    "serve-load": serve_load,
    **head_tables.TABLES,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="list stale tables, change nothing")
    check, stale = parser.parse_args().check, []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text, where = path.read_text(), path.relative_to(ROOT)

        def fill(m: re.Match, where: Path = where) -> str:
            if m[2] not in TABLES:
                raise SystemExit(f"{where}: unknown table {m[2]!r}")
            new = "\n" + TABLES[m[2]]() + "\n\n"  # blank lines keep the comments apart
            if new != m[3]:
                stale.append(f"{where}: table {m[2]}")
            return m[1] + new + m[4]

        new_text = MARKED.sub(fill, text)
        if not check and new_text != text:
            path.write_text(new_text)
    if stale:
        print("stale (run scripts/docs_tables.py):" if check else "updated:", *stale, sep="\n")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
