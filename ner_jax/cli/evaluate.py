"""`ner-jax evaluate`: systems ranked on a labelled corpus; report.json, report.md, rankings."""

from __future__ import annotations

from absl import app, flags

from ner_jax.cli.common import define_corpus_flags, define_detector_threshold
from ner_jax.cli.flags import config_from_flags
from ner_jax.evaluation import SPANS, SYSTEMS, EvaluateConfig, evaluate, summary
from ner_jax.features import QUERY_TEMPLATE
from ner_jax.model import COMPONENTS
from ner_jax.verdict import VERDICT_WEIGHT

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
    flags.DEFINE_list("verdict", [], "head systems also run reranked by the model's verdict")
    flags.DEFINE_list(
        "verdict_weights", [str(VERDICT_WEIGHT)], "the verdict's weights (several: NAME+verdict@W)"
    )
    flags.DEFINE_string("seen_types", None, "JSON list of labels seen in training: score the rest")
    flags.DEFINE_string("groups", None, "JSON map group -> labels: score each group's queries")
    flags.DEFINE_string("paraphrases", None, "JSON map label -> wordings: score every wording")
    flags.DEFINE_string("features", None, "feature store root to reuse (default: <out>/features)")
    flags.DEFINE_string("query_template", QUERY_TEMPLATE, "raw systems' query text, {} = words")
    flags.DEFINE_bool("catch_all_queries", False, "also query catch-all types (misc, Other*)")
    flags.DEFINE_string("minilm", None, "MiniLM directory (default: the PyPI package)")
    flags.DEFINE_integer("seed", 0, "seed of the tie-breaking shuffle")
    flags.DEFINE_enum("spans", "gold", list(SPANS), "mentions the model systems read")
    flags.DEFINE_string("detector", None, "with --spans detected (default: the model's shipped)")
    define_detector_threshold()


def main(argv: list[str]) -> None:
    del argv
    # --head is repeatable, one head per use: the config holds them all.
    try:
        weights = tuple(float(w) for w in FLAGS.verdict_weights)
    except ValueError:
        raise app.UsageError(
            f"--verdict_weights: {FLAGS.verdict_weights} are not numbers"
        ) from None
    config = config_from_flags(EvaluateConfig, renames={"heads": "head"}, verdict_weights=weights)
    report = evaluate(config)
    print(summary(report))
    count = len(report["systems"])
    print(f"\nwrote {FLAGS.out}/report.json, report.md and rankings/ ({count} systems)")
