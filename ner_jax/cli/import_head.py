"""`ner-jax import-head`: the paper authors' PyTorch head written as one of our head files."""

from __future__ import annotations

from absl import app, flags

from ner_jax.head import import_paper_head, load_head
from ner_jax.model import NAMED_MODELS

FLAGS = flags.FLAGS
PAPER_MODEL = "llama3.1-8b"


def define_flags() -> None:
    flags.DEFINE_string(
        "model", PAPER_MODEL, "the model the head reads: a named model, HF dir or .gguf file"
    )
    flags.DEFINE_string("tap", None, "the tap it reads (default: the named model's, else v@17)")
    flags.DEFINE_string("out", None, "output head file (default: the cache, for --head paper)")


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("give one PyTorch state dict file (contrastive_projection_head.pth)")
    named = NAMED_MODELS.get(FLAGS.model)
    tap = FLAGS.tap or (f"{named.tap_component}@{named.tap_block}" if named else "v@17")
    path = import_paper_head(argv[1], FLAGS.model, FLAGS.out, tap)
    head = load_head(path)
    print(
        f"wrote {path} (+ .json): reads {','.join(head.spec.taps)} of {head.model}, "
        f"{head.record['input_width']} -> {head.module.hidden} -> {head.module.out}, "
        f"source sha256 {head.record['source_sha256'][:12]}"
    )
