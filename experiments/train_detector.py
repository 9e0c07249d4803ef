"""Train the mention detector leaving each corpus out in turn, measure it held out; ship one.

  python experiments/train_detector.py --workdir /work/runs/detector --out results/detector --ship

Token features of every split in configs/detector.py are extracted once into WORKDIR/tokens
(resumable). Per fold (each corpus held out, then "all"), the detector trains on the other
corpora's training splits, picks its step by span F1 and its operating point by the shipped
head's R-Precision on their selection splits (detector.selection), and is measured on the
held-out corpus's test split: span precision/recall, mention-end recall, mentions per document,
and R-Precision of the head and the raw tap on detected vs gold spans, beside BM25 and MiniLM
on the same documents. The "all" fold trains and selects on every corpus and is what ships.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "token feature cache", required=True)
flags.DEFINE_string("out", "results/detector", "report directory")
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_list("variants", ["default"], "variants to train (configs/detector.py)")
flags.DEFINE_list("folds", ["multiconer", "crossner", "fewnerd", "all"], "held-out corpora")
flags.DEFINE_bool("ship", False, "ship the default variant of the 'all' fold")
flags.DEFINE_bool("reuse", False, "reuse the detectors already trained in WORKDIR/detectors")
flags.DEFINE_list("set", [], "DetectorTrainConfig overrides, e.g. steps=500,context=2:0")


def load_splits(model_name: str, data: str, workdir: Path) -> tuple[dict, dict]:
    """({split: TokenData}, {split: gold span types per text})."""
    from configs import detector as configs

    from ner_jax.data import read_labelled
    from ner_jax.detector import extract_tokens
    from ner_jax.features import extractor_for

    extractor = extractor_for(model_name, configs.TAPS)
    tokens, types = {}, {}
    for name, split in configs.splits(data).items():
        sentences = [s for f in split.files for s in read_labelled(f)]
        sentences = sentences[split.offset :: split.every]
        if split.lower:  # a copy whose spans still fit: lower() can change a text's length
            sentences = [s for s in sentences if len(s.text.lower()) == len(s.text)]
        texts = [s.text.lower() if split.lower else s.text for s in sentences]
        spans = [[(p.start, p.end) for p in s.spans] for s in sentences]
        found = extract_tokens(extractor, texts, spans, configs.TAPS, workdir / "tokens" / name)
        tokens[name] = dataclasses.replace(found, o_weight=split.o_weight)
        types[name] = [[p.type for p in s.spans] for s in sentences]
        logging.info("%s: %d texts, %d tokens", name, len(texts), len(found.tags))
    return tokens, types


def train_fold(fold: str, name: str, tokens: dict, systems: dict):
    """The fold's detector (trained, or reused from WORKDIR/detectors with --reuse), its
    operating point selected in-domain on the fold's selection splits, and the training log."""
    from configs import detector as configs

    from ner_jax.cli import override
    from ner_jax.detector import (
        DetectorTrainConfig,
        choose_threshold,
        load_detector,
        save_detector,
        sweep,
        train_detector,
    )

    path = Path(FLAGS.workdir) / "detectors" / f"{fold}-{name}"
    if FLAGS.reuse and path.with_suffix(".safetensors").is_file():
        return load_detector(path), []
    held_out = None if fold == "all" else fold
    variant = configs.VARIANTS[name]
    names = [
        n
        for n in configs.fold(tokens, held_out, "train")
        if variant.lower or not configs.splits("")[n].lower
    ]
    train = [
        dataclasses.replace(tokens[n], o_weight=variant.fewnerd_o_weight)
        if configs.splits("")[n].corpus == "fewnerd"
        else tokens[n]
        for n in names
    ]
    select = configs.fold(tokens, held_out, "select")
    config = DetectorTrainConfig(variant.taps, variant.context, variant.hidden, steps=2000)
    config = override(config, FLAGS.set)
    detector, log = train_detector(config, FLAGS.model, train, [tokens[n] for n in select])
    swept = sweep(detector, [systems["head"][n] for n in select])
    detector.record.update(
        variant=name,
        held_out=held_out,
        trained_on={n: len(t.texts) for n, t in zip(names, train, strict=True)},
        selected_on=select,
        config=dataclasses.asdict(config),
        in_domain_threshold=choose_threshold(swept),
        in_domain_sweep=curve(swept),
    )
    save_detector(path, detector.params, detector.record)
    return detector, log


def curve(swept: dict) -> list[dict]:
    return [
        {k: p[k] for k in ("threshold", "r_precision", "mentions_per_document")}
        for p in swept["points"]
    ]


def main(argv: list[str]) -> None:
    del argv
    from configs import detector as configs
    from detector_report import retrieval_splits, table, test_fold

    from ner_jax.cli import override
    from ner_jax.detector import DetectorTrainConfig, choose_threshold, save_detector, sweep
    from ner_jax.files import ASSETS, atomic

    override(DetectorTrainConfig(configs.TAPS), FLAGS.set)  # a bad --set fails before extraction
    tokens, types = load_splits(FLAGS.model, FLAGS.data, Path(FLAGS.workdir))
    systems = retrieval_splits(FLAGS.model, FLAGS.data, tokens, types, Path(FLAGS.workdir))
    out = Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": FLAGS.model, "splits": {n: len(t.texts) for n, t in tokens.items()}}
    report["folds"], report["out_of_corpus"] = {}, {}
    for name in FLAGS.variants:
        trained = {fold: train_fold(fold, name, tokens, systems) for fold in FLAGS.folds}
        # How each detector retrieves on a corpus it never saw: its held-out corpus's selection
        # splits. The operating point of a fold is the one best on the other folds' unseen
        # corpora, so no fold's own held-out corpus chooses it.
        unseen = {
            corpus: sweep(
                trained[corpus][0],
                [systems["head"][n] for n in configs.fold(tokens, corpus, "select_held_out")],
            )
            for corpus in configs.CORPORA
            if corpus in trained
        }
        report["out_of_corpus"][name] = {c: curve(s) for c, s in unseen.items()}
        for fold, (detector, log) in trained.items():
            others = [s for corpus, s in unseen.items() if corpus != fold]
            detector = detector.with_threshold(choose_threshold(others))
            detector.record.update(threshold_selected_on=[c for c in unseen if c != fold])
            entry = {"record": detector.record, "log": log}
            held_out = None if fold == "all" else fold
            entry["test"] = test_fold(detector, held_out, systems, tokens)
            report["folds"][f"{fold}/{name}"] = entry
            if FLAGS.ship and fold == "all" and name == "default":
                path = save_detector(
                    ASSETS / "detectors" / FLAGS.model, detector.params, detector.record
                )
                logging.info("shipped %s", path)
            atomic.write_text(out / "report.json", json.dumps(report, indent=1) + "\n")
    atomic.write_text(out / "report.md", table(report))
    print(table(report))


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
