"""The performance suite: encoding against the reference pipeline and the matmul peak, a real
`ner-jax index` build, query latency and recall up to 1M mentions, head training throughput.

  .venv/bin/python scripts/bench.py --out results/bench.json            # the full suite
  .venv/bin/python scripts/bench.py --quick --out /tmp/bench_quick.json  # smaller samples

Each part runs in its own process (its own device count and memory), one after another:
scripts/bench_encode.py, `ner-jax index` on CrossNER with gold spans (wall time and peak RSS
of that process), scripts/bench_index.py on synthetic vectors and on that index, and
scripts/bench_training.py on 1 and 2 virtual devices. The full run builds a 1M-mention ScaNN
index (about 16 GB of memory at its peak); --quick stops at 100k, encodes 200 sentences and
indexes one CrossNER split. Prints the headline figures against the targets and writes them,
with every part's own JSON, to --out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import flags

from ner_jax.cli import run_launcher

flags.DEFINE_bool("quick", False, "smaller samples, indexes up to 100k (a quick check)")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_string("workdir", None, "where the parts write (default: a temp dir, removed)")
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS

ROOT = Path(__file__).resolve().parents[1]
# The targets (2-core CPU, fp32, Gemma-3-270M): (key, comparison, bound).
TARGETS = [
    ("encode_speedup_vs_reference", ">=", 4.0),
    ("forward_fraction_of_peak", ">=", 0.5),
    ("query_p50_ms_1m", "<=", 25.0),
    ("query_p99_ms_1m", None, None),
    ("scann_search_p50_ms_1m", "<=", 3.0),
    ("scann_recall_at_100_1m", ">=", 0.98),
    ("index_bytes_per_mention", "<=", 600.0),
    ("index_peak_rss_mb", None, None),
]


def run(args: list[str], env: dict | None = None) -> dict:
    """Runs a part to completion; its wall seconds and peak RSS (that process alone)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"bench: {' '.join(map(str, args))} failed ({process.returncode})")
    seconds = round(time.perf_counter() - started, 1)
    return {"seconds": seconds, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def crossner_files(quick: bool) -> list[str]:
    root = Path(FLAGS.data) / "crossner"
    if not root.is_dir():
        raise SystemExit(f"{root}: CrossNER not found (set --data or NER_JAX_DATA)")
    if quick:
        return [str(root / "ai" / "dev.txt")]
    return [str(p) for d in sorted(root.iterdir()) if d.is_dir() for p in sorted(d.glob("*.txt"))]


def suite(work: Path) -> dict:
    python = sys.executable
    quick = ["--quick"] if FLAGS.quick else []
    parts = {}
    encode = ["--documents", "200", "--repeats", "1", "--nolm_head"] if FLAGS.quick else []
    parts["encode_run"] = run(
        [python, "scripts/bench_encode.py", "--data", FLAGS.data, *encode, "--out", work / "e.json"]
    )
    files = crossner_files(FLAGS.quick)
    index = work / "crossner_index"
    inputs = [arg for f in files for arg in ("--input", f)]
    parts["index_run"] = run([python, "-m", "ner_jax.cli", "index", *inputs, "--index", index])
    parts["index_run"]["inputs"] = files
    parts["index_run"]["manifest"] = json.loads((index / "manifest.json").read_text())
    queries = [str(Path(FLAGS.data) / "queries" / f) for f in ("crossner.json", "multiconer.json")]
    parts["index_bench_run"] = run(
        [python, "scripts/bench_index.py", *quick, "--index", index, "--out", work / "i.json"]
        + ["--real_queries", ",".join(queries), "--tmp_dir", work]
    )
    two = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    steps = ["--steps", "10"] if FLAGS.quick else []
    parts["training_run"] = run(
        [python, "scripts/bench_training.py", *steps, "--out", work / "t.json"], env=two
    )
    encode, vectors, training = (
        json.loads((work / f"{name}.json").read_text()) for name in ("e", "i", "t")
    )
    result = {
        "encode_speedup_vs_reference": encode["encode_speedup_vs_reference"],
        "forward_fraction_of_peak": encode["forward_fraction_of_peak"],
        "query_p50_ms_1m": vectors["query_p50_ms_1m"],
        "query_p99_ms_1m": vectors["query_p99_ms_1m"],
        "scann_search_p50_ms_1m": vectors.get("scann_search_p50_ms_1m"),
        "scann_recall_at_100_1m": vectors["scann_recall_at_100_1m"],
        "index_bytes_per_mention": vectors["index_bytes_per_mention"],
        "index_peak_rss_mb": parts["index_run"]["peak_rss_mb"],
        "quick": FLAGS.quick,
        "notes": {
            "index_bytes_per_mention": "ScaNN vector index on disk at the largest synthetic size",
            "index_peak_rss_mb": "the `ner-jax index` process on the CrossNER files listed",
            "query_p50_ms_1m": f"{vectors.get('query_latency', 'search only')}, k=10",
        },
        "encode": encode,
        "vector_index": vectors,
        "training": training,
        "runs": parts,
    }
    return result


def print_summary(result: dict) -> None:
    print(f"\n{'figure':<30} {'value':>10}  target")
    for key, op, bound in TARGETS:
        value = result[key]
        if op is None:
            verdict = ""
        elif value is None:
            verdict = f"{op} {bound}: not measured" + (" (--quick)" if result["quick"] else "")
        else:
            met = value >= bound if op == ">=" else value <= bound
            verdict = f"{op} {bound}: {'met' if met else 'NOT met'}"
        shown = "-" if value is None else value
        print(f"{key:<30} {shown!s:>10}  {verdict}")
    for row in result["training"]["rows"]:
        devices, speed = row["devices"], row["examples_per_second"]
        print(f"head training {row['loss']:<9} {devices} device(s): {speed:>10} examples/s")


def main(argv):
    del argv
    with tempfile.TemporaryDirectory(prefix="ner_jax_bench-") as tmp:
        work = Path(FLAGS.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = suite(work)
    print_summary(result)
    if FLAGS.out:
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    run_launcher(main)
