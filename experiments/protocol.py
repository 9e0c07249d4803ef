"""A zero-shot protocol end to end: train every head variant, then evaluate all systems.

    python experiments/protocol.py --protocol=a --out=results/protocol_a/gemma3-270m

Protocol A trains on MultiCoNER II and evaluates on pooled CrossNER (all types, and the types
with no MultiCoNER counterpart separately); protocol B trains on CrossNER and evaluates on pooled
MultiCoNER with all 33 types as queries. Heads resume and are reused from --out; the corpus
features are extracted once into --features and shared by training and evaluation.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "protocol", None, ["a", "b"], "a: MultiCoNER -> CrossNER; b: the reverse", required=True
)
flags.DEFINE_string("out", None, "heads/<variant>/ and the evaluation report", required=True)
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_string("features", None, "feature store root (default: <out>/features)")
flags.DEFINE_list("variants", None, "head variants to run (default: all of configs/head.py)")
flags.DEFINE_string("report", "evaluate", "the evaluation's directory in --out")


def extract_once(trainings, corpora, features: str) -> None:
    """One encoder pass per corpus for the union of every variant's taps (and the model's
    default tap, the `raw` system's), so each head and the evaluation reuse the same store."""
    from ner_jax.data import build_benchmark, load_query_words
    from ner_jax.features import corpus_features, extractor_for
    from ner_jax.model import resolve_tap

    default = resolve_tap(FLAGS.model)
    taps = {f"{default.component}@{default.block}"}
    taps |= {t for config in trainings for t in config.spec().taps}
    extractor = extractor_for(FLAGS.model, taps)
    for corpus in dict.fromkeys(corpora):
        words = load_query_words(corpus.queries) if corpus.queries else {}
        corpus_features(extractor, build_benchmark(corpus.files, words), Path(features))


def main(argv: list[str]) -> None:
    del argv
    from configs import head as configs  # experiments/ is sys.path[0]

    from ner_jax.evaluation import EvaluateConfig, evaluate, summary
    from ner_jax.head import train_head

    out = Path(FLAGS.out)
    features = FLAGS.features or str(out / "features")
    variants = FLAGS.variants or list(configs.VARIANTS)
    trainings = {
        v: configs.get_config(f"{FLAGS.protocol}_{v}", FLAGS.data, FLAGS.model) for v in variants
    }
    data = FLAGS.data
    corpus = configs.crossner(data) if FLAGS.protocol == "a" else configs.multiconer(data)
    train_corpora = next(iter(trainings.values())).corpora  # the same for every variant
    extract_once(trainings.values(), (*train_corpora, corpus), features)
    heads = []
    for variant, config in trainings.items():
        config = dataclasses.replace(config, features=features)
        workdir = out / "heads" / variant
        if not (workdir / "head.safetensors").is_file():
            logging.info("training head %s", variant)
            train_head(config, workdir)
        heads.append(f"{variant}={workdir / 'head.safetensors'}")
    seen = f"{data}/queries/crossner_seen.json" if FLAGS.protocol == "a" else None
    # Fusions with the sentence-level baseline and with the raw tap, each a named system.
    trained = [f"head-{v}" for v in trainings if not configs.RAW_MIX.get(v)]
    fuse = tuple(f"{a}+{b}" for a in trained + ["raw"] for b in ("minilm", "raw") if a != b)
    report = evaluate(
        EvaluateConfig(
            data=corpus.files,
            out=str(out / FLAGS.report),
            systems=("bm25", "minilm", "minilm_mentions", "raw"),
            model=FLAGS.model,
            heads=tuple(heads),
            fuse=fuse,
            queries=corpus.queries,
            catch_all_queries=FLAGS.protocol == "b",
            seen_types=seen,
            features=features,
        )
    )
    print(summary(report))
    print(f"\n{len(report['systems'])} systems; report in {out / FLAGS.report}")


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
