"""Train and measure the mention detector variants; ship one.

  python experiments/train_detector.py --workdir /work/runs/detector \
      --out results/detector --ship default

Token features of every split in configs/detector.py are extracted once into WORKDIR/tokens
(resumable), every variant is trained on the training splits and selected on CrossNER dev,
and span precision/recall/F1 are reported on MultiCoNER dev and each CrossNER test domain
(pooled too), beside the ceiling set by tokenisation (gold spans projected on tokens and back).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "token feature cache", required=True)
flags.DEFINE_string("out", "results/detector", "report directory")
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_list("variants", None, "variants to train (default: all in configs/detector.py)")
flags.DEFINE_string("ship", None, "variant whose weights go to ner_jax/detectors/MODEL.*")
flags.DEFINE_list("set", [], "DetectorTrainConfig overrides, e.g. steps=500,context=2:0")


def load_splits(model_name: str, data: str, workdir: Path) -> dict:
    from configs import detector as configs

    from ner_jax.data import read_labelled
    from ner_jax.detector import extract_tokens
    from ner_jax.features import extractor_for

    extractor = extractor_for(model_name, configs.TAPS)
    out = {}
    for name, split in configs.splits(data).items():
        sentences = [s for f in split.files for s in read_labelled(f)][:: split.every]
        texts = [s.text for s in sentences]
        spans = [[(p.start, p.end) for p in s.spans] for s in sentences]
        out[name] = extract_tokens(extractor, texts, spans, configs.TAPS, workdir / "tokens" / name)
        logging.info("%s: %d texts, %d tokens", name, len(texts), len(out[name].tags))
    return out


def ceiling(data) -> dict:
    """Span scores of the gold tags decoded back: what tokenisation alone allows."""
    from ner_jax.detector import span_scores, tag_spans

    starts = data.starts
    found = [
        tag_spans(t, data.offsets[starts[d] : starts[d + 1]], data.tags[starts[d] : starts[d + 1]])
        for d, t in enumerate(data.texts)
    ]
    return span_scores(found, data.spans)


def main(argv: list[str]) -> None:
    del argv
    import dataclasses

    from configs import detector as configs

    from ner_jax.cli import override
    from ner_jax.detector import (
        DetectorTrainConfig,
        TokenData,
        evaluate_detector,
        save_detector,
        train_detector,
    )
    from ner_jax.files import ASSETS, atomic

    override(DetectorTrainConfig(configs.TAPS), FLAGS.set)  # a bad --set fails before extraction
    splits = load_splits(FLAGS.model, FLAGS.data, Path(FLAGS.workdir))
    train = TokenData.concat([splits[n] for n in configs.TRAIN])
    select = splits[configs.SELECT]
    pooled = TokenData.concat([splits[n] for n in configs.TEST if "crossner" in n])
    tests = {**{n: splits[n] for n in configs.TEST}, "test_crossner_pooled": pooled}
    report = {
        "model": FLAGS.model,
        "train": {n: len(splits[n].texts) for n in configs.TRAIN},
        "train_tokens": int(len(train.tags)),
        "select": configs.SELECT,
        "ceiling": {n: ceiling(d) for n, d in tests.items()},
        "variants": {},
    }
    out = Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in FLAGS.variants or list(configs.VARIANTS):
        variant = configs.VARIANTS[name]
        config = DetectorTrainConfig(variant.taps, variant.context, variant.hidden)
        config = override(config, FLAGS.set)
        detector, log = train_detector(config, FLAGS.model, train, select)
        detector.record.update(
            variant=name,
            trained_on={n: len(splits[n].texts) for n in configs.TRAIN},
            selected_on=configs.SELECT,
            config=dataclasses.asdict(config),
        )
        scores = {n: evaluate_detector(detector, d) for n, d in tests.items()}
        detector.record["test"] = scores
        report["variants"][name] = {"record": detector.record, "log": log}
        logging.info("%s: pooled CrossNER test F1 %.3f", name, scores["test_crossner_pooled"]["f1"])
        save_detector(out / "variants" / name, detector.params, detector.record)
        if name == FLAGS.ship:
            path = save_detector(
                ASSETS / "detectors" / FLAGS.model, detector.params, detector.record
            )
            logging.info("shipped %s as %s", name, path)
        atomic.write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    atomic.write_text(out / "report.md", table(report))
    print(table(report))


def table(report: dict) -> str:
    """Markdown: span F1 (P/R) per variant and test split, with the tokenisation ceiling."""
    names = list(report["ceiling"])
    short = [n.removeprefix("test_") for n in names]
    lines = [
        f"Mention detector ({report['model']}), span F1 (precision/recall), exact match; "
        f"trained on {', '.join(report['train'])} ({report['train_tokens']:,} tokens), "
        f"selected on {report['select']}.",
        "",
        "| variant | select F1 | " + " | ".join(short) + " |",
        "|---|---" + "|---" * len(names) + "|",
    ]

    def cell(s):
        return f"{s['f1']:.3f} ({s['precision']:.2f}/{s['recall']:.2f})"

    for name, entry in report["variants"].items():
        record = entry["record"]
        selected = max(e["f1"] for e in entry["log"])
        cells = " | ".join(cell(record["test"][n]) for n in names)
        lines.append(f"| {name} | {selected:.3f} | {cells} |")
    cells = " | ".join(cell(report["ceiling"][n]) for n in names)
    lines.append(f"| gold tags decoded (ceiling) | | {cells} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
