"""`ner-jax index`: build a corpus index from documents (spans given or detected), or add to one."""

from __future__ import annotations

from absl import flags

from ner_jax.corpus_docs import FORMATS, read_documents
from ner_jax.corpus_index import IndexConfig, add_to_index, build_corpus_index
from ner_jax.models import DEFAULT_MODEL
from ner_jax.vector_index import BACKENDS

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_multi_string(
        "input", None, "document file(s): text, JSONL or CoNLL", required=True
    )
    flags.DEFINE_string(
        "index", None, "index directory (built, replaced or added to)", required=True
    )
    flags.DEFINE_enum("format", "auto", list(FORMATS), "input format (auto: extension, content)")
    flags.DEFINE_bool("add", False, "add the documents to the existing index")
    flags.DEFINE_string(
        "model",
        None,
        f"named model, HF dir or .gguf (default {DEFAULT_MODEL}; with --add: the index's)",
    )
    flags.DEFINE_string(
        "head", None, "head file (default: the model's shipped head; with --add: the index's)"
    )
    flags.DEFINE_string(
        "detector",
        None,
        "mention detector file for documents without spans (default: the model's shipped one;"
        " 'none': documents must bring spans; with --add: the index's)",
    )
    flags.DEFINE_enum("backend", "auto", list(BACKENDS), "vector index backend (not with --add)")
    flags.DEFINE_integer("max_tokens", 512, "context per encoding; longer documents are windowed")
    flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "decoder compute dtype")
    flags.DEFINE_integer("batch_docs", 256, "documents per resumable batch")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise SystemExit(f"ner-jax index: unexpected arguments {argv[1:]}")
    try:
        summary = _index_or_add()
    except (ValueError, OSError, RuntimeError) as error:  # bad input or encoder: say it plainly
        raise SystemExit(f"ner-jax index: {error}") from None
    batches = summary["batches"]
    reused = f", {batches['reused']} reused from an interrupted run" if batches["reused"] else ""
    dropped = summary["dropped_mentions"]
    print(
        f"{FLAGS.index}: {summary['documents']:,} documents, {summary['mentions']:,} mentions "
        f"({summary['vector_backend']} index); added {summary['added_documents']:,} documents "
        f"and {summary['added_mentions']:,} mentions in {summary['seconds']:.1f}s "
        f"(batches: {batches['encoded']} encoded{reused})"
        + (f"; {dropped:,} mentions could not be read" if dropped else "")
    )


def _index_or_add() -> dict:
    documents = read_documents(FLAGS.input, FLAGS.format)
    if FLAGS.add:
        fixed = [
            f"--{name}"
            for name in ("backend", "max_tokens", "dtype", "detector")
            if FLAGS[name].present
        ]
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: with --add the index's own settings are used")
        return add_to_index(
            documents, FLAGS.index, FLAGS.model, FLAGS.head, batch_docs=FLAGS.batch_docs
        )
    config = IndexConfig(
        model=FLAGS.model or DEFAULT_MODEL,
        head=FLAGS.head,
        detector=FLAGS.detector,
        backend=FLAGS.backend,
        max_tokens=FLAGS.max_tokens,
        dtype=FLAGS.dtype,
        batch_docs=FLAGS.batch_docs,
    )
    return build_corpus_index(documents, FLAGS.index, config)
