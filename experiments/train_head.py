"""Train a projection head: `python experiments/train_head.py --config=a_nce_tap --workdir=DIR`.

Configs are named in experiments/configs/head.py (`tiny` is a two-step smoke run). Rerunning
with the same workdir resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "config", None, "config name in configs/head.py (a_*, b_*, shipped, tiny)", required=True
)
flags.DEFINE_string(
    "workdir", None, "checkpoints, metrics.jsonl and head.safetensors", required=True
)
flags.DEFINE_string("model", "gemma3-270m", "named model (chooses the taps of each role)")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_string("features", None, "feature store root shared across runs (default: workdir)")
flags.DEFINE_integer("stop_after", None, "stop after this step as a preempted job would")
flags.DEFINE_list("set", [], "overrides of OptimConfig fields, e.g. steps=500,learning_rate=3e-4")


def main(argv: list[str]) -> None:
    del argv
    from configs import head as configs  # experiments/ is sys.path[0]

    from ner_jax.cli import override
    from ner_jax.head import train_head

    config = configs.get_config(FLAGS.config, FLAGS.data, FLAGS.model)
    config = dataclasses.replace(
        config, optim=override(config.optim, FLAGS.set), features=FLAGS.features
    )
    path = train_head(config, FLAGS.workdir, stop_after=FLAGS.stop_after)
    if path is None:
        print(f"stopped after step {FLAGS.stop_after}; rerun without --stop_after to resume")
    else:
        print(f"wrote {path} (record: {path.with_suffix('.json')})")


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
