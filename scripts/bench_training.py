"""Head training throughput: step time and examples/s per loss, on 1 and on all devices.

  XLA_FLAGS=--xla_force_host_platform_device_count=2 \
    .venv/bin/python scripts/bench_training.py --out results/bench_training.json

Times the jitted train step (host batch sampling included, as in training) on synthetic
mentions of the given input width (default 1024: Gemma attn@15, the default head's input).
Examples are mentions plus anchors (InfoNCE) or anchor, positive and negative inputs (triplet)
pushed through the head per step. Medians after a compiled warm-up.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import jax
import numpy as np
from absl import flags
from jax.sharding import Mesh

from ner_jax.cli import run_launcher
from ner_jax.head import (
    MentionSet,
    OptimConfig,
    ProjectionHead,
    init_state,
    make_train_step,
    sample_batch,
)

flags.DEFINE_integer("width", 1024, "head input width (the default head reads Gemma attn@15)")
flags.DEFINE_integer("mentions", 20000, "synthetic mentions")
flags.DEFINE_integer("types", 33, "synthetic types")
flags.DEFINE_integer("steps", 50, "timed steps per setting")
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS


def examples_per_step(optim: OptimConfig, types: int) -> int:
    anchors = min(optim.types_per_batch, types)
    if optim.loss == "info_nce":
        return anchors * (1 + optim.mentions_per_type)
    negatives = optim.random_negatives + optim.hard_pool
    return anchors * (1 + optim.mentions_per_type + negatives)


def main(argv):
    del argv
    rng = np.random.default_rng(0)
    labels = rng.integers(0, FLAGS.types, FLAGS.mentions).astype(np.int32)
    mentions = MentionSet(
        inputs=rng.normal(size=(FLAGS.mentions, FLAGS.width)).astype(np.float32),
        types=labels,
        docs=np.arange(FLAGS.mentions),
        type_names=[str(t) for t in range(FLAGS.types)],
        anchors=rng.normal(size=(FLAGS.types, FLAGS.width)).astype(np.float32),
        files={},
    )
    rows = []
    device_counts = sorted({1, len(jax.devices())})
    for optim in (
        OptimConfig(),
        OptimConfig(loss="triplet", types_per_batch=8, mentions_per_type=50),
    ):
        module = ProjectionHead(optim.hidden, optim.out, optim.dropout)
        for devices in device_counts:
            mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
            step, tx = make_train_step(module, optim, mesh)
            state = init_state(module, tx, FLAGS.width, 0)
            state, loss = step(state, sample_batch(mentions, optim, 0))  # compile
            loss.block_until_ready()
            seconds = []
            for n in range(1, FLAGS.steps + 1):
                started = time.perf_counter()
                state, loss = step(state, sample_batch(mentions, optim, n))
                loss.block_until_ready()
                seconds.append(time.perf_counter() - started)
            median = statistics.median(seconds)
            examples = examples_per_step(optim, FLAGS.types)
            rows.append(
                {
                    "loss": optim.loss,
                    "devices": devices,
                    "examples_per_step": examples,
                    "step_ms_median": round(1000 * median, 2),
                    "examples_per_second": round(examples / median, 1),
                }
            )
    print(f"{'loss':<10} {'devices':>7} {'examples/step':>13} {'step ms':>8} {'examples/s':>11}")
    for r in rows:
        print(
            f"{r['loss']:<10} {r['devices']:>7} {r['examples_per_step']:>13} "
            f"{r['step_ms_median']:>8} {r['examples_per_second']:>11}"
        )
    if FLAGS.out:
        result = {
            "width": FLAGS.width,
            "mentions": FLAGS.mentions,
            "types": FLAGS.types,
            "steps": FLAGS.steps,
            "rows": rows,
        }
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    run_launcher(main)
