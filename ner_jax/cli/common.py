"""Flags shared by the subcommands that read a labelled corpus with a model."""

from __future__ import annotations

from absl import flags

from ner_jax.model import DEFAULT_MODEL, DTYPES


def define_corpus_flags() -> None:
    """--data (repeatable), --out, --model, --queries, --dtype, --max_tokens."""
    flags.DEFINE_multi_string("data", None, "labelled file(s), pooled as one corpus", required=True)
    flags.DEFINE_string("out", None, "output directory", required=True)
    flags.DEFINE_string("model", DEFAULT_MODEL, "named model, HF checkpoint dir or .gguf file")
    flags.DEFINE_string("queries", None, "JSON map label -> query words (default: generic rule)")
    define_dtype()
    flags.DEFINE_integer("max_tokens", 512, "longer documents are cut (later mentions dropped)")


def define_dtype() -> None:
    """`--dtype`: auto (bf16 on GPU and TPU, fp32 on CPU), float32 or bfloat16."""
    flags.DEFINE_enum(
        "dtype", "auto", list(DTYPES), "decoder compute dtype (auto: bf16 on GPU/TPU, else fp32)"
    )


def define_detector_threshold() -> None:
    """`--detector_threshold`, for the commands that run the mention detector."""
    flags.DEFINE_float(
        "detector_threshold",
        None,
        "operating point of the detector: a token whose probability of ending a mention is at "
        "least this ends one (lower: more mentions, higher recall, a larger index; 0: every "
        "word); default: the detector's own",
    )
