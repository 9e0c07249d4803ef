"""Choose the head on types it never trained on, then train the shipped head on every type.

    python experiments/leave_types_out.py --workdir=/work/runs/head18 --out=results/head_lto --ship

Each variant trains on all three corpora without configs/head.py's HELD_OUT_TYPES (`lto_*`
configs); the held-out types' R-Precision on the selection files picks its step, and then the
variant and the raw-tap mix. With --ship the chosen recipe trains on every type for the chosen
number of steps (no selection left to do), gets its output projection fitted on its training
mentions, and is written to ner_jax/assets/heads/. Training resumes and heads are reused from
--workdir; corpus features are extracted once into WORKDIR/features. The shipped head then gets
its context part from experiments/sentence_signal.py --ship (which narrows the projection to
make room for it).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "heads, checkpoints and the feature store", required=True)
flags.DEFINE_string("out", None, "report.json and report.md", required=True)
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_list("variants", ["default", "words"], "head variants of configs/head.py")
flags.DEFINE_list("mixes", ["0", "0.25", "0.5", "0.75", "1"], "raw-tap mixes to choose among")
flags.DEFINE_list("set", ["steps=1500", "eval_every=50"], "OptimConfig overrides")
flags.DEFINE_bool("ship", False, "train the chosen recipe on every type and ship it")
flags.DEFINE_integer("dims", 384, "output width of the shipped head's projection")
flags.DEFINE_list(
    "query_reading", [], "the shipped head's query positions, POSITION=WEIGHT (default: last)"
)


def held_out_scores(config, head_path: Path, mixes: list[float], features: Path) -> dict:
    """Held-out types' R-Precision on the selection files at each raw-tap mix."""
    from ner_jax.features import extractor_for
    from ner_jax.head import load_head
    from ner_jax.head.mentions import load_mentions, retrieval_score

    head = load_head(head_path)
    extractor = extractor_for(config.model, head.spec.taps)
    held_out = set(config.held_out_types)
    select = load_mentions(
        extractor,
        head.spec,
        config.corpora,
        config.select,
        features,
        template=config.query_template,  # the anchors as the variant trained on them
        queried=held_out.__contains__,
    )
    width = extractor.model.config.component_width(head.spec.parsed[0][0])
    scores = {}
    for mix in mixes:
        mixed = dataclasses.replace(
            head, record={**head.record, "raw_mix": mix, "raw_width": width}
        )
        scores[mix] = retrieval_score(
            mixed.project(select.inputs), mixed.project(select.anchors), select
        )
    return scores


def ship(config, workdir: Path, features: Path, chosen: dict) -> Path:
    """Train `config` on every type, fit its projection on its training mentions, ship it with
    the `chosen` recipe's selection in its record."""
    import hashlib

    from ner_jax.features import extractor_for
    from ner_jax.files import ASSETS
    from ner_jax.head import add_projection, load_head, save_head, train_head
    from ner_jax.head.mentions import load_mentions

    head = load_head(train_head(config, workdir))
    extractor = extractor_for(config.model, head.spec.taps)
    train = load_mentions(extractor, head.spec, config.corpora, config.train, features, False)
    digests = {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in config.train}
    about = {"files": list(config.train), "sha256": digests}
    reduced = add_projection(head, head.project(train.inputs), FLAGS.dims, about)
    reduced.record["recipe"] = chosen
    target = ASSETS / "heads" / f"{config.model}.safetensors"
    return save_head(target, reduced.params, reduced.record)


def main(argv: list[str]) -> None:
    del argv
    from configs import head as configs  # experiments/ is sys.path[0]
    from report import write_report  # experiments/ is sys.path[0]

    from ner_jax.cli import override
    from ner_jax.head import load_head, train_head

    workdir, out = Path(FLAGS.workdir), Path(FLAGS.out)
    features = workdir / "features"
    mixes = [float(m) for m in FLAGS.mixes]
    rows = []
    for variant in FLAGS.variants:
        config = configs.get_config(f"lto_{variant}", FLAGS.data, FLAGS.model)
        config = dataclasses.replace(
            config, optim=override(config.optim, FLAGS.set), features=str(features)
        )
        path = workdir / "lto" / variant / "head.safetensors"
        if not path.is_file():
            logging.info("training %s without the held-out types", variant)
            train_head(config, path.parent)
        record = load_head(path).record
        scores = held_out_scores(config, path, mixes, features)
        for mix, score in scores.items():
            rows.append(
                {
                    "variant": variant,
                    "step": record["metrics"]["best_step"],
                    "raw_mix": mix,
                    "held_out_r_precision": score,
                }
            )
    best = max(rows, key=lambda r: r["held_out_r_precision"])
    report = {"held_out_types": list(configs.HELD_OUT_TYPES), "rows": rows, "chosen": best}
    write_report(
        out,
        report,
        {
            "variant": lambda r: r["variant"],
            "step": lambda r: str(r["step"]),
            "raw mix": lambda r: f"{r['raw_mix']:g}",
            "held-out types, R-Precision": lambda r: f"{r['held_out_r_precision']:.3f}",
        },
    )
    print(f"chosen: {best}")
    if FLAGS.ship:
        reading = [(p, float(w)) for p, _, w in (x.partition("=") for x in FLAGS.query_reading)]
        config = configs.shipped(
            FLAGS.data, FLAGS.model, best["variant"], best["step"], best["raw_mix"], reading
        )
        config = dataclasses.replace(config, features=str(features))
        chosen = {
            "chosen_by": "experiments/leave_types_out.py",
            **best,
            "held_out_types": list(configs.HELD_OUT_TYPES),
            "selection_files": list(config.select),
        }
        print(f"shipped: {ship(config, workdir / 'shipped', features, chosen)}")


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
