"""Load benchmark of `ner-jax serve`: requests/s and latency, micro-batched against one at a time.

  .venv/bin/python scripts/bench_serve.py --out results/bench_serve.json

Builds the default model's index of the demo corpus (`ner-jax demo --index`) unless --index
names one, then starts `ner-jax serve` twice on it: with micro-batching (--max_batch 16) and
one search at a time (--max_batch 1). Against each, after a warm-up pass over the
descriptions: --requests sequential requests from one client, then --requests from --clients
concurrent clients (each request a type description of the demo and the benchmark query
files, in turn). Reports, per server and load: requests answered (status 200), p50/p99
latency, requests/s, and the server's mean batch size.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from absl import flags

from ner_jax.cli import run_launcher
from ner_jax.cli.demo import QUERIES

flags.DEFINE_string("index", None, "index to serve (default: build the demo corpus's)")
flags.DEFINE_integer("requests", 200, "requests per load")
flags.DEFINE_integer("clients", 16, "concurrent clients of the concurrent load")
flags.DEFINE_integer("k", 10, "documents per search")
flags.DEFINE_float("window_ms", None, "the micro-batched server's --window_ms (default: its own)")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS

ROOT = Path(__file__).resolve().parents[1]
SERVERS = {"micro-batched": 16, "one at a time": 1}  # name -> --max_batch


def descriptions() -> list[str]:
    """The demo's queries and, where the data is, the benchmark's query words."""
    words = set(QUERIES)
    for name in ("crossner.json", "multiconer.json"):
        path = Path(FLAGS.data) / "queries" / name
        if path.is_file():
            words |= set(json.loads(path.read_text()).values())
    return sorted(words)


def start(index: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    """`ner-jax serve` on a free port; (process, its URL) once it listens."""
    command = [sys.executable, "-m", "ner_jax.cli", "serve", "--index", str(index), "--port", "0"]
    window = [] if FLAGS.window_ms is None else ["--window_ms", str(FLAGS.window_ms)]
    process = subprocess.Popen(
        [*command, "--max_batch", str(max_batch), "--queue_size", "256", *window],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    found = re.search(r" on (http://\S+)$", line.strip())
    if not found:
        process.kill()
        raise SystemExit(f"bench_serve: the server did not start: {line!r}")
    return process, found[1]


def get(url: str) -> tuple[int, float]:
    """(status, seconds) of one GET."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def load(url: str, texts: list[str], requests: int, clients: int) -> dict:
    """`requests` searches from `clients` concurrent clients: answered, latency, requests/s."""
    urls = [
        f"{url}/api/search?" + urllib.parse.urlencode({"q": texts[i % len(texts)], "k": FLAGS.k})
        for i in range(requests)
    ]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(get, urls))
    seconds = time.perf_counter() - started
    ms = 1000 * np.array([s for _, s in results])
    return {
        "clients": clients,
        "requests": requests,
        "answered": sum(status == 200 for status, _ in results),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "requests_per_s": round(requests / seconds, 2),
    }


def bench_server(index: Path, max_batch: int, texts: list[str]) -> dict:
    process, url = start(index, max_batch)
    try:
        load(url, texts, len(texts), 1)  # warm-up: every description once
        rows = []
        for clients in (1, FLAGS.clients):
            before = json.loads(urllib.request.urlopen(f"{url}/healthz").read())
            row = load(url, texts, FLAGS.requests, clients)
            after = json.loads(urllib.request.urlopen(f"{url}/healthz").read())
            batches = after["batches"] - before["batches"]
            row["mean_batch"] = round((after["searches"] - before["searches"]) / batches, 2)
            rows.append(row)
        return {
            "max_batch": max_batch,
            "documents": after["documents"],
            "mentions": after["mentions"],
            "loads": rows,
        }
    finally:
        process.terminate()
        process.wait(timeout=120)


def main(argv):
    del argv
    with tempfile.TemporaryDirectory(prefix="bench_serve-") as tmp:
        index = Path(FLAGS.index or Path(tmp) / "demo_index")
        if FLAGS.index is None:
            subprocess.run(
                [sys.executable, "-m", "ner_jax.cli", "demo", "--index", str(index)],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        texts = descriptions()
        servers = {name: bench_server(index, size, texts) for name, size in SERVERS.items()}
    print(
        f"{'server':<15} {'clients':>7} {'answered':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'requests/s':>10} {'mean batch':>10}"
    )
    for name, server in servers.items():
        for row in server["loads"]:
            print(
                f"{name:<15} {row['clients']:>7} {row['answered']:>5}/{row['requests']:<3} "
                f"{row['p50_ms']:>8} {row['p99_ms']:>8} {row['requests_per_s']:>10} "
                f"{row['mean_batch']:>10}"
            )
    concurrent_rps = {n: s["loads"][-1]["requests_per_s"] for n, s in servers.items()}
    result = {
        "index": FLAGS.index or "the demo corpus, default model (ner-jax demo --index)",
        "descriptions": len(texts),
        "k": FLAGS.k,
        "window_ms": FLAGS.window_ms,
        "servers": servers,
        "speedup_concurrent": round(
            concurrent_rps["micro-batched"] / concurrent_rps["one at a time"], 2
        ),
    }
    print(
        f"micro-batching: {result['speedup_concurrent']}x the requests/s of one at a time "
        f"with {FLAGS.clients} clients"
    )
    if FLAGS.out:
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    run_launcher(main)
