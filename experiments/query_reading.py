"""Choose where a head reads descriptions, on half of the description set's compositional types.

    python experiments/query_reading.py --out=results/query_reading [--head=PATH]

The set (ner_jax/assets/descriptions/) has compositional descriptions ("castle in Scotland") and
base types ("castle"). Its compositional labels are split in two by sorted order (even positions
choose, odd ones report); each reading (Head.query_reading: the last token, the end of the head
phrase, or a weighted sum of both) is scored with gold spans on both halves and on the base types,
and the weight is chosen on the choosing half alone.
"""

from __future__ import annotations

import dataclasses

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "report.json and report.md", required=True)
flags.DEFINE_string("head", None, "head file (default: the model's shipped head)")
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", "ner_jax/assets/descriptions", "the description set's directory")
flags.DEFINE_list("weights", ["0", "0.25", "0.5", "0.75", "1"], "weights of the head position")


def main(argv: list[str]) -> None:
    del argv
    from pathlib import Path

    import numpy as np
    from configs import head as configs  # experiments/ is sys.path[0]
    from report import write_report

    from ner_jax.data import (
        best_mention_scores,
        build_benchmark,
        evaluate_rankings,
        load_query_words,
        rank,
    )
    from ner_jax.features import extractor_for, mention_inputs, query_readings
    from ner_jax.head import load_head, shipped_head

    data = Path(FLAGS.data)
    head = load_head(FLAGS.head or shipped_head(FLAGS.model))
    bench = build_benchmark([data / "sentences.jsonl"], load_query_words(data / "queries.json"))
    parts = configs.description_parts(data)
    extractor = extractor_for(FLAGS.model, head.spec.taps)
    texts = [d.text for d in bench.documents]
    spans = [sorted({(s.start, s.end) for s in d.spans}) for d in bench.documents]
    inputs, _ = mention_inputs(extractor, texts, spans, head.spec)
    docs = np.array([d for d, s in enumerate(spans) for _ in s])
    vectors = head.project(inputs)
    words = [q.text for q in bench.queries]
    readings = query_readings(extractor, words, head.spec, head.query_template, ("head", "last"))
    rows = []
    for weight in map(float, FLAGS.weights):
        reading = {p: w for p, w in (("head", weight), ("last", 1 - weight)) if w > 0}
        chosen = readings[[("head", "last").index(p) for p in reading]]
        read = dataclasses.replace(head, record={**head.record, "query_reading": reading})
        scores = best_mention_scores(read.query_vectors(chosen) @ vectors.T, docs, len(texts))
        per_query = evaluate_rankings(rank(scores), [q.relevant for q in bench.queries])[
            "per_query_r_precision"
        ]
        types = [q.type for q in bench.queries]
        rows.append(
            {
                "head_weight": weight,
                "reading": reading,
                **configs.part_scores(per_query, types, parts),
            }
        )
    best = max(rows, key=lambda r: r["choose"])
    report = {"head": str(FLAGS.head or "shipped"), "parts": parts, "rows": rows, "chosen": best}
    write_report(
        Path(FLAGS.out),
        report,
        {"weight of the head phrase": lambda r: f"{r['head_weight']:g}", **configs.PART_COLUMNS},
    )
    print(f"chosen on the choosing half: {best['reading']}")


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
