"""`ner-jax index`: build a corpus index from documents (spans given or detected), or add to one."""

from __future__ import annotations

from absl import flags

from ner_jax.cli.common import define_detector_threshold, define_dtype
from ner_jax.cli.flags import config_from_flags
from ner_jax.index import (
    BACKENDS,
    DEFAULT_TIMEOUT,
    FORMATS,
    IndexConfig,
    add_to_index,
    build_corpus_index,
    build_sharded_index,
    is_sharded,
    joined,
    read_documents,
)
from ner_jax.model import DEFAULT_MODEL

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
    define_detector_threshold()
    flags.DEFINE_enum("backend", "auto", list(BACKENDS), "vector index backend (not with --add)")
    flags.DEFINE_integer("max_tokens", 512, "context per encoding; longer documents are windowed")
    define_dtype()
    flags.DEFINE_integer("batch_docs", 256, "documents per resumable batch")
    flags.DEFINE_integer(
        "num_processes", 1, "processes building the index, a shard each (with --coordinator)"
    )
    flags.DEFINE_integer("process_id", 0, "this process's number, 0 .. num_processes - 1")
    flags.DEFINE_string("coordinator", None, "HOST:PORT of process 0, for num_processes > 1")
    flags.DEFINE_bool(
        "distributed",
        False,
        "take process id and count from the cluster (jax.distributed.initialize() with no "
        "arguments: TPU pods, SLURM, ...) instead of the three flags above",
    )
    flags.DEFINE_integer(
        "shard_timeout",
        DEFAULT_TIMEOUT,
        "seconds a process waits for the other shards before giving up",
    )


def main(argv: list[str]) -> None:
    del argv  # none: ner_jax.cli.run_app refuses them
    try:
        summary = _index_or_add()
    except (ValueError, OSError, RuntimeError) as error:  # bad input or encoder: say it plainly
        raise SystemExit(f"ner-jax index: {error}") from None
    where = f"{FLAGS.index}/{summary['shard']}" if "shard" in summary else FLAGS.index
    batches = summary["batches"]
    reused = f", {batches['reused']} reused from an interrupted run" if batches["reused"] else ""
    dropped = summary["dropped_mentions"]
    print(
        f"{where}: {summary['documents']:,} documents, {summary['mentions']:,} mentions "
        f"({summary['vector_backend']} index); added {summary['added_documents']:,} documents "
        f"and {summary['added_mentions']:,} mentions in {summary['seconds']:.1f}s "
        f"(batches: {batches['encoded']} encoded{reused})"
        + (f"; {dropped:,} mentions could not be read" if dropped else "")
    )
    if "shard" in summary:
        whole = summary["sharded"]
        print(
            f"{FLAGS.index}: {whole['shards']} shards, {whole['documents']:,} documents, "
            f"{whole['mentions']:,} mentions"
        )


def _index_or_add() -> dict:
    processes = _processes()
    # A bad setting fails before the documents, perhaps many, are read; --model "" as unset.
    model = FLAGS.model or DEFAULT_MODEL
    config = None if FLAGS.add else config_from_flags(IndexConfig, model=model)
    documents = read_documents(FLAGS.input, FLAGS.format)
    if FLAGS.add:
        if is_sharded(FLAGS.index):
            raise ValueError(
                f"{FLAGS.index} is a sharded index: --add is not supported on one; rebuild it "
                "from all the documents, or index the new ones into a separate directory"
            )
        if processes:
            raise ValueError("--add runs in one process: no --num_processes or --distributed")
        fixed = [
            f"--{name}"
            for name in ("backend", "max_tokens", "dtype", "detector", "detector_threshold")
            if FLAGS[name].present
        ]
        if fixed:
            raise ValueError(f"{', '.join(fixed)}: with --add the index's own settings are used")
        return add_to_index(
            documents, FLAGS.index, FLAGS.model, FLAGS.head, batch_docs=FLAGS.batch_docs
        )
    if not processes:
        return build_corpus_index(documents, FLAGS.index, config)
    with joined(*processes) as (process_id, count):
        if count == 1:  # a cluster of one: the plain layout, which --add can extend
            return build_corpus_index(documents, FLAGS.index, config)
        return build_sharded_index(
            documents, FLAGS.index, config, process_id, count, FLAGS.shard_timeout
        )


def _processes() -> tuple | None:
    """jax.distributed.initialize's (coordinator, count, id): all None to auto-detect; None
    for a single process."""
    given = [f"--{n}" for n in ("num_processes", "process_id", "coordinator") if FLAGS[n].present]
    if FLAGS.distributed:
        if given:
            raise ValueError(f"--distributed takes them from the cluster: drop {', '.join(given)}")
        return None, None, None
    if FLAGS.num_processes < 1 or not 0 <= FLAGS.process_id < FLAGS.num_processes:
        raise ValueError(
            f"--process_id {FLAGS.process_id} must lie in 0 .. --num_processes - 1 "
            f"({FLAGS.num_processes - 1})"
        )
    if FLAGS.num_processes == 1:
        return None
    if not FLAGS.coordinator:
        raise ValueError("--num_processes > 1 needs --coordinator HOST:PORT (process 0's)")
    return FLAGS.coordinator, FLAGS.num_processes, FLAGS.process_id
