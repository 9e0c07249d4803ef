"""Choose the verdict's weight on half of the description set's compositional descriptions.

    python experiments/verdict_weight.py --out=results/verdict_weight [--spans=detected]

Runs `ner-jax evaluate` on the description set (ner_jax/assets/descriptions/) with the shipped
head reranked by the model's verdict (ner_jax.verdict) at each weight; the compositional labels
are split in two by sorted order, as experiments/query_reading.py does (even positions choose,
odd ones report), and the weight is the best on the choosing half. The verdicts are read once
for all weights. The report lists both halves and the base types for every weight.
"""

from __future__ import annotations

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "report.json, report.md and the evaluate run", required=True)
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", "ner_jax/assets/descriptions", "the description set's directory")
flags.DEFINE_list("weights", ["0", "1", "2", "3", "4", "6"], "weights of the verdict")
flags.DEFINE_enum("spans", "gold", ["gold", "detected"], "mentions the head reads")
flags.DEFINE_string("features", None, "feature store root to reuse (default: <out>/features)")


def main(argv: list[str]) -> None:
    del argv
    from pathlib import Path

    from configs import head as configs  # experiments/ is sys.path[0]
    from report import write_report

    from ner_jax.evaluation import EvaluateConfig, evaluate

    data, out = Path(FLAGS.data), Path(FLAGS.out)
    weights = tuple(map(float, FLAGS.weights))
    run = evaluate(
        EvaluateConfig(
            data=(str(data / "sentences.jsonl"),),
            out=str(out / "evaluate"),
            systems=("head",),
            model=FLAGS.model,
            queries=str(data / "queries.json"),
            groups=str(data / "groups.json"),
            verdict=("head",),
            verdict_weights=weights,
            spans=FLAGS.spans,
            features=FLAGS.features,
        )
    )
    parts = configs.description_parts(data)
    types = [q["type"] for q in run["corpus"]["queries"]]
    rows = []
    for weight in weights:
        per_query = run["systems"][f"head+verdict@{weight:g}"]["per_query_r_precision"]
        rows.append({"weight": weight, **configs.part_scores(per_query, types, parts)})
    best = max(rows, key=lambda r: r["choose"])  # ties go to the smaller weight
    report = {"spans": FLAGS.spans, "parts": parts, "rows": rows, "chosen": best}
    write_report(
        out,
        report,
        {"weight of the verdict": lambda r: f"{r['weight']:g}", **configs.PART_COLUMNS},
    )
    print(f"chosen on the choosing half: {best['weight']:g}")


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
