"""`ner-jax demo`: index the packaged demo corpus as plain text and run type queries on it."""

from __future__ import annotations

import json
import tempfile
import time
from importlib import resources
from pathlib import Path

from absl import flags

from ner_jax.cli.common import define_dtype
from ner_jax.cli.flags import config_from_flags
from ner_jax.detector import NO_DETECTOR, resolve_detector, span_scores
from ner_jax.index import Document, IndexConfig, Retriever, build_corpus_index
from ner_jax.model import DEFAULT_MODEL

FLAGS = flags.FLAGS
CORPUS = "demo_corpus.jsonl"
# Type descriptions that no training label names, each with the annotated types that count
# as right (the corpus annotation is used only to mark results, never to build the index).
QUERIES = {
    "castle in Scotland": {"castle"},
    "river": {"river"},
    "volcano": {"volcano"},
    "spacecraft": {"spacecraft", "space probe", "space telescope", "lander", "rover"},
    "cheese": {"cheese"},
    "composer": {"composer"},
    "football club": {"football club"},
    "painter": {"painter"},
}
SHOWN, JUDGED = 3, 5


def define_flags() -> None:
    flags.DEFINE_string("model", DEFAULT_MODEL, "named model, HF checkpoint dir or .gguf file")
    flags.DEFINE_string("head", None, "head file (default: the one shipped for the model)")
    flags.DEFINE_string(
        "detector",
        None,
        "mention detector (default: the model's shipped one; 'none': the annotated mentions)",
    )
    flags.DEFINE_string("index", None, "keep the index in this directory (default: a temp dir)")
    define_dtype()
    flags.DEFINE_list("queries", list(QUERIES), "type descriptions to search for")


def demo_corpus() -> tuple[list[Document], dict[str, list[tuple[int, int, str]]]]:
    """(the packaged documents, without spans; their annotated (start, end, type) by id)."""
    path = resources.files("ner_jax") / "assets" / CORPUS
    documents, annotated = [], {}
    for line_number, line in enumerate(path.read_text().splitlines(), 1):
        record = json.loads(line)
        text, spans, after = record["text"], [], {}
        for surface, kind in record["mentions"]:
            start = text.find(surface, after.get(surface, 0))
            if start < 0:
                raise ValueError(f"{path}:{line_number}: mention {surface!r} not in the text")
            after[surface] = start + len(surface)
            spans.append((start, start + len(surface), kind))
        documents.append(Document(record["id"], text, None))
        annotated[record["id"]] = spans
    return documents, annotated


def main(argv: list[str]) -> None:
    del argv  # none: ner_jax.cli.run_app refuses them
    started = time.perf_counter()
    documents, annotated = demo_corpus()
    detector = resolve_detector(FLAGS.model, FLAGS.detector)
    if detector is None:  # no detector (asked for, or none ships): read the annotated mentions
        documents = [
            Document(d.id, d.text, tuple((s, e) for s, e, _ in annotated[d.id])) for d in documents
        ]
    with tempfile.TemporaryDirectory(prefix="ner-jax-demo-") as scratch:
        directory = Path(FLAGS.index or Path(scratch) / "index")
        config = config_from_flags(
            IndexConfig,
            detector=str(detector) if detector else NO_DETECTOR,
            batch_docs=len(documents),  # one batch: fewer jit shapes than resumable batches
        )
        summary = build_corpus_index(documents, directory, config, progress=False)
        with Retriever.load(directory) as retriever:
            _report(retriever, summary, documents, annotated, started)


def _report(retriever: Retriever, summary: dict, documents, annotated, started: float) -> None:
    encoder = retriever.encoder
    record, c = encoder.record, encoder.extractor.model.config
    print(
        f"model {record.model}: {c.architecture}, {c.num_hidden_layers} blocks, reading "
        f"{', '.join(record.taps)} (blocks after {max(encoder.extractor.blocks)} never run)"
    )
    print(f"head: {record.head_variant}, {record.dim}-d mention vectors")
    rows = retriever.store.db.execute("SELECT doc, start_char, end_char FROM mentions")
    by_doc: dict[int, list[tuple[int, int]]] = {}
    for doc, start, end in rows:
        by_doc.setdefault(doc, []).append((start, end))
    found = [by_doc.get(i, []) for i in range(len(documents))]
    gold = [[(s, e) for s, e, _ in annotated[d.id]] for d in documents]
    if encoder.detector is None:
        print("detector: none, the corpus's annotated mentions are indexed")
    else:
        threshold = encoder.detector.threshold
        point = "one Viterbi path" if threshold is None else f"mention ends >= {threshold:g}"
        scores = span_scores(found, gold)
        print(
            f"detector: {record.detector_variant}, {point}; on this corpus's annotation: "
            f"{scores['predicted'] / len(documents):.1f} mentions per sentence, precision "
            f"{scores['precision']:.2f}, recall {scores['recall']:.2f}, mention ends found "
            f"{scores['end_recall']:.2f}"
        )
    read = "plain text" if encoder.detector else "annotated mentions"
    print(
        f"indexed {summary['documents']} documents ({read}) -> {summary['mentions']} "
        f"mentions ({summary['vector_backend']} search) in {summary['seconds']:.1f}s"
    )
    print(f"\ntop {SHOWN} documents per query, matched mention in [brackets], * = not annotated")
    print(f"as a type the query means; precision over the top {JUDGED} in parentheses")
    searched = time.perf_counter()
    for query in FLAGS.queries:
        hits = retriever.search(query, k=JUDGED)
        right = [_is_right(annotated[h.doc_id], h.mentions[0], QUERIES.get(query)) for h in hits]
        judged = f" ({sum(right)}/{len(hits)})" if query in QUERIES else ""
        print(f"  {query}{judged}")
        for hit, ok in list(zip(hits, right, strict=True))[:SHOWN]:
            best = hit.mentions[0]
            text = f"{hit.text[: best.start]}[{best.text}]{hit.text[best.end :]}"
            print(f"   {' ' if ok or query not in QUERIES else '*'}{hit.score:.2f}  {text}")
    seconds = time.perf_counter() - searched
    print(
        f"\n{len(FLAGS.queries)} queries in {seconds:.2f}s; demo total "
        f"{time.perf_counter() - started:.1f}s"
    )


def _is_right(spans, mention, kinds) -> bool:
    """Whether an annotated mention of one of `kinds` overlaps the matched mention."""
    return bool(kinds) and any(
        kind in kinds and s < mention.end and mention.start < e for s, e, kind in spans
    )
