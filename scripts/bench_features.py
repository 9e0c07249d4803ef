"""Feature-extraction throughput on a real model: prints a table and writes JSON.

  .venv/bin/python scripts/bench_features.py --model gemma3-270m --out results/bench_features.json

Times `FeatureExtractor` (tokenise, bucket, jit forward up to the tap, gather at span ends) on
pooled CrossNER sentences with their gold spans, after a warm-up pass that compiles every shape.
Reports the median of --repeats timed passes: real tokens/s (padding excluded), mentions/s and
the share of computed tokens that were padding.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import jax
from absl import app, flags

from ner_jax.benchmark import build_benchmark
from ner_jax.features import FeatureExtractor, bucket
from ner_jax.models import load_model

flags.DEFINE_string("model", "gemma3-270m", "named model, HF dir or GGUF")
flags.DEFINE_integer("tap_block", None, "tap block (default: the model's)")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_integer("documents", 1000, "sentences to encode per pass")
flags.DEFINE_integer("repeats", 3, "timed passes")
flags.DEFINE_integer("token_budget", 8192, "tokens per batch")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "compute dtype")
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    root = Path(FLAGS.data) / "crossner"
    files = [str(p) for d in sorted(root.iterdir()) if d.is_dir() for p in sorted(d.glob("*.txt"))]
    documents = build_benchmark(files).documents[: FLAGS.documents]
    texts = [d.text for d in documents]
    spans = [[(s.start, s.end) for s in d.spans] for d in documents]
    model = load_model(FLAGS.model, FLAGS.tap_block, FLAGS.dtype)
    extractor = FeatureExtractor(model, token_budget=FLAGS.token_budget)
    lengths = [len(ids) for ids in extractor.encode(texts)[0]]
    real_tokens = sum(lengths)
    padded = sum(bucket(n, 16) for n in lengths)
    mentions = sum(map(len, spans))
    extractor(texts, spans)  # compile every shape
    seconds = []
    for _ in range(FLAGS.repeats):
        started = time.perf_counter()
        extractor(texts, spans)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    result = {
        "model": model.name,
        "tap_block": model.tap_block,
        "blocks_run": model.tap_block + 1,
        "dtype": FLAGS.dtype,
        "devices": len(jax.devices()),
        "documents": len(texts),
        "real_tokens": real_tokens,
        "mentions": mentions,
        "seconds_median": round(median, 3),
        "seconds_all": [round(s, 3) for s in seconds],
        "tokens_per_second": round(real_tokens / median, 1),
        "mentions_per_second": round(mentions / median, 1),
        "padding_fraction": round(1 - real_tokens / padded, 3),
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    if FLAGS.out:
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    app.run(main)
