"""`ner-jax evaluate`: systems ranked on a labelled corpus; report.json, report.md, rankings."""

from __future__ import annotations

from absl import flags

from ner_jax.cli.common import define_corpus_flags
from ner_jax.decoder import COMPONENTS
from ner_jax.evaluate import SPANS, SYSTEMS, EvaluateConfig, evaluate
from ner_jax.head_inputs import QUERY_TEMPLATE

FLAGS = flags.FLAGS


def define_flags() -> None:
    define_corpus_flags()
    flags.DEFINE_integer("tap_block", None, "block of the `raw` system (default: the model's)")
    flags.DEFINE_enum("component", None, list(COMPONENTS), "activation of `raw` (default: model's)")
    flags.DEFINE_list("raw_taps", [], "extra raw systems: BLOCK (value vectors) or COMPONENT@BLOCK")
    flags.DEFINE_list("systems", ["bm25", "minilm", "raw", "head"], f"any of {', '.join(SYSTEMS)}")
    flags.DEFINE_multi_string(
        "head", [], "head file for system `head` (PATH) or `head-NAME` (NAME=PATH); repeatable"
    )
    flags.DEFINE_list("fuse", [], "fused system pairs A+B, e.g. head+minilm")
    flags.DEFINE_string("seen_types", None, "JSON list of labels seen in training: score the rest")
    flags.DEFINE_string("features", None, "feature store root to reuse (default: <out>/features)")
    flags.DEFINE_string("query_template", QUERY_TEMPLATE, "raw systems' query text, {} = words")
    flags.DEFINE_bool("catch_all_queries", False, "also query catch-all types (misc, Other*)")
    flags.DEFINE_string("minilm", None, "MiniLM directory (default: the PyPI package)")
    flags.DEFINE_integer("seed", 0, "seed of the tie-breaking shuffle")
    flags.DEFINE_enum("spans", "gold", list(SPANS), "mentions the model systems read")
    flags.DEFINE_string("detector", None, "with --spans detected (default: the model's shipped)")


def main(argv: list[str]) -> None:
    del argv
    config = EvaluateConfig(
        data=tuple(FLAGS.data),
        out=FLAGS.out,
        systems=tuple(FLAGS.systems),
        model=FLAGS.model,
        tap_block=FLAGS.tap_block,
        component=FLAGS.component,
        raw_taps=tuple(FLAGS.raw_taps),
        heads=tuple(FLAGS.head),
        fuse=tuple(FLAGS.fuse),
        seen_types=FLAGS.seen_types,
        features=FLAGS.features,
        query_template=FLAGS.query_template,
        queries=FLAGS.queries,
        catch_all_queries=FLAGS.catch_all_queries,
        minilm=FLAGS.minilm,
        dtype=FLAGS.dtype,
        max_tokens=FLAGS.max_tokens,
        seed=FLAGS.seed,
        spans=FLAGS.spans,
        detector=FLAGS.detector,
    )
    report = evaluate(config)
    print(open(f"{FLAGS.out}/report.md").read().split("\n\n| type")[0])
    count = len(report["systems"])
    print(f"\nwrote {FLAGS.out}/report.json, report.md and rankings/ ({count} systems)")
