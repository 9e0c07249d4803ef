"""`ner-jax search`: the documents of a corpus index that mention an entity of a described type."""

from __future__ import annotations

import json
import re

from absl import flags

from ner_jax.index import Hit, Retriever
from ner_jax.verdict import VERDICT_DEPTH

FLAGS = flags.FLAGS
CONTEXT = 80  # characters shown either side of the best mention


def define_flags() -> None:
    flags.DEFINE_string("index", None, "index directory", required=True)
    flags.DEFINE_integer("k", 10, "documents to return")
    flags.DEFINE_bool("json", False, "one JSON object per line: doc_id, score, text, mentions")
    flags.DEFINE_string("model", None, "model (default: the index's; another one is refused)")
    flags.DEFINE_string("head", None, "head file (default: the index's; another one is refused)")
    flags.DEFINE_integer(
        "rerank", VERDICT_DEPTH, "first hits the model's verdict reorders (0: none)", lower_bound=0
    )


def main(argv: list[str]) -> None:
    description = " ".join(argv[1:])
    if not description.strip():
        raise SystemExit('usage: ner-jax search --index DIR "type description" [--k 10] [--json]')
    try:
        with Retriever.load(FLAGS.index, FLAGS.model, FLAGS.head, FLAGS.rerank) as retriever:
            hits = retriever.search(description, FLAGS.k)
    except (ValueError, OSError) as error:  # no index, another encoder: say it plainly
        raise SystemExit(f"ner-jax search: {error}") from None
    if FLAGS.json:
        for hit in hits:
            print(json.dumps(hit.as_dict(), ensure_ascii=False))
        return
    if not hits:
        print("no documents")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:3d}  {hit.score:.4f}  {hit.doc_id}\n     {snippet(hit)}")
        others = ", ".join(f"{m.text!r} {m.score:.3f}" for m in hit.mentions[1:4])
        if others:
            print(f"     also: {others}" + (" ..." if len(hit.mentions) > 4 else ""))


def snippet(hit: Hit) -> str:
    """The text around the best mention, with the mention in [brackets], on one line."""
    best = hit.mentions[0]
    lo, hi = max(0, best.start - CONTEXT), min(len(hit.text), best.end + CONTEXT)
    parts = [hit.text[lo : best.start], f"[{best.text}]", hit.text[best.end : hi]]
    text = re.sub(r"\s+", " ", "".join(parts))
    return ("..." if lo else "") + text + ("..." if hi < len(hit.text) else "")
