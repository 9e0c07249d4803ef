"""What the detector's operating point costs an index: mentions, bytes and indexing time per
detector setting, against a reference detector measured in the same run; prints a table and
writes JSON.

  .venv/bin/python scripts/bench_detector.py --before OLD_DETECTOR --out results/bench_detector.json

Each setting indexes the same plain-text documents (CrossNER test sentences, no spans: the
detector finds them) with `build_corpus_index`, as `ner-jax index` does: the reference (by
default the detector shipped before recall-first decoding, one Viterbi path), the shipped
detector at its operating point, and the shipped detector at threshold 0 (every word). Settings
alternate over --repeats passes after one warm-up pass; times are medians.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ner_jax.cli import run_launcher, use_all_cpu_cores  # noqa: E402

use_all_cpu_cores()  # as `ner-jax index` does, before jax loads

from absl import flags  # noqa: E402

from ner_jax.data import build_benchmark  # noqa: E402
from ner_jax.detector import load_detector, shipped_detector  # noqa: E402
from ner_jax.files import atomic  # noqa: E402
from ner_jax.index import Document, IndexConfig, build_corpus_index  # noqa: E402

flags.DEFINE_string("before", None, "reference detector file (Viterbi)", required=True)
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_integer("documents", 400, "CrossNER test sentences indexed per pass")
flags.DEFINE_integer("repeats", 2, "timed passes per setting")
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS
DOMAINS = ("ai", "literature", "music", "politics", "science")


def settings() -> dict[str, tuple[str, float | None]]:
    shipped = str(shipped_detector(FLAGS.model))
    return {
        "before (Viterbi)": (FLAGS.before, None),
        "shipped operating point": (shipped, None),
        "every word (threshold 0)": (shipped, 0.0),
    }


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def one_pass(documents, detector: str, threshold: float | None, root: Path) -> dict:
    target = root / "index"
    config = IndexConfig(model=FLAGS.model, detector=detector, detector_threshold=threshold)
    started = time.perf_counter()
    summary = build_corpus_index(documents, target, config, progress=False)
    seconds = time.perf_counter() - started
    mentions = summary["added_mentions"]
    return {
        "seconds": seconds,
        "mentions": mentions,
        "index_bytes": size(target),
        "vector_bytes": size(target / "vectors"),
        "mentions_per_document": mentions / len(documents),
    }


def main(argv: list[str]) -> None:
    del argv
    paths = [f"{FLAGS.data}/crossner/{d}/test.txt" for d in DOMAINS]
    texts = [d.text for d in build_benchmark(paths).documents]
    step = max(1, len(texts) // FLAGS.documents)
    documents = [Document(str(i), t, None) for i, t in enumerate(texts[::step][: FLAGS.documents])]
    runs: dict[str, list[dict]] = {name: [] for name in settings()}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(FLAGS.repeats + 1):  # pass 0 compiles and is not kept
            for name, (detector, threshold) in settings().items():
                result = one_pass(documents, detector, threshold, Path(tmp) / name)
                if repeat:
                    runs[name].append(result)
    reference = "before (Viterbi)"
    rows = {}
    for name, found in runs.items():
        last = found[-1]
        rows[name] = {
            **{k: v for k, v in last.items() if k != "seconds"},
            "threshold": load_detector(settings()[name][0])
            .with_threshold(settings()[name][1])
            .threshold,
            "seconds": statistics.median(r["seconds"] for r in found),
            "vector_bytes_per_mention": last["vector_bytes"] / max(last["mentions"], 1),
        }
    for row in rows.values():
        ref = rows[reference]
        row["mentions_ratio"] = row["mentions"] / ref["mentions"]
        row["bytes_ratio"] = row["index_bytes"] / ref["index_bytes"]
        row["time_ratio"] = row["seconds"] / ref["seconds"]
    print(f"{len(documents)} CrossNER test sentences, {FLAGS.model}, median of {FLAGS.repeats}")
    print("| setting | threshold | mentions/doc | index bytes/doc | vector bytes/mention "
          "| index seconds | mentions x | bytes x | time x |")  # fmt: skip
    print("|---" * 9 + "|")
    for name, r in rows.items():
        t = "Viterbi" if r["threshold"] is None else f"{r['threshold']:g}"
        print(
            f"| {name} | {t} | {r['mentions_per_document']:.2f} "
            f"| {r['index_bytes'] / len(documents):,.0f} | {r['vector_bytes_per_mention']:,.0f} "
            f"| {r['seconds']:.1f} | {r['mentions_ratio']:.2f} | {r['bytes_ratio']:.2f} "
            f"| {r['time_ratio']:.2f} |"
        )
    if FLAGS.out:
        report = {"documents": len(documents), "model": FLAGS.model, "settings": rows}
        atomic.write_text(Path(FLAGS.out), json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    run_launcher(main)
