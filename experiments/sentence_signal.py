"""Measure a sentence signal beside the head: a document's best mention + WEIGHT x its sentence's.

    python experiments/sentence_signal.py --workdir=/work/runs/head18 \
        --out=results/sentence_signal [--ship]

A description such as "castle in Scotland" names a kind of entity (the head's mention score) and
an attribute that the sentence around it often states. Two sentence signals are scored beside
the head: MiniLM over the whole document, and the model's own tap mean-pooled over the document's
tokens and centred on the corpus mean (the index's forward computes it anyway). The weight of
each is chosen on types held out of head training (configs/head.py HELD_OUT_TYPES, with the
leave-types-out head of the shipped recipe's variant, WORKDIR/lto/VARIANT, at the recipe's raw
mix) on the selection files, Few-NERD dev every 8th sentence; the shipped head is then scored
with every weight on the description set (ner_jax/assets/descriptions), compositional
descriptions and base types apart.

The third signal is the one the product can serve: the head's context part (head.add_context),
the pooled tap centred on training texts' mean (every EVERY-th text of the shipped head's
training files) and reduced to CONTEXT_DIMS, appended to every vector so that one vector search
ranks by both. So that an index's vectors keep their width (and bytes), the shipped head's own
projection is refitted CONTEXT_DIMS narrower on its training mentions first; the description
rows of this signal are of that narrower head. Its weight is the largest whose held-out score is
within TOLERANCE of the best weight's: held-out types are single labels, which cannot show what
an attribute gains, so the rule takes as much context as they do not penalise. --ship writes
the shipped head with it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "leave_types_out.py's workdir", required=True)
flags.DEFINE_string("out", None, "report.json and report.md", required=True)
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("data", os.environ.get("NER_JAX_DATA", "../shared/data"), "data root")
flags.DEFINE_list("weights", ["0", "0.05", "0.1", "0.2", "0.3", "0.5", "1"], "sentence weights")
flags.DEFINE_integer("context_dims", 64, "width of the head's context part")
flags.DEFINE_integer("every", 25, "the context part is fitted on every EVERY-th training text")
flags.DEFINE_float("tolerance", 0.005, "held-out R-Precision a context weight may lose")
flags.DEFINE_bool("ship", False, "write the shipped head with the chosen context part")

DESCRIPTIONS = Path("ner_jax/assets/descriptions")


def selection_corpus(data: str, workdir: Path) -> list[str]:
    """The leave-types-out selection files, Few-NERD's dev file cut to every 8th sentence."""
    from configs import head as configs

    files = list(configs.get_config("lto_default", data).select)
    fewnerd = [f for f in files if "fewnerd" in f]
    sliced = workdir / "sentence_signal" / "fewnerd_dev_every_8th.txt"
    if fewnerd and not sliced.is_file():
        blocks = Path(fewnerd[0]).read_text().strip().split("\n\n")
        sliced.parent.mkdir(parents=True, exist_ok=True)
        sliced.write_text("\n\n".join(blocks[3::8]) + "\n")
    return [f for f in files if f not in fewnerd] + ([str(sliced)] if fewnerd else [])


def head_scores(head, extractor, bench, features: Path) -> np.ndarray:
    """[Q, D] each document's best gold mention's cosine with each query, through `head`, as
    `ner-jax evaluate` scores it."""
    from ner_jax.evaluation.model_systems import BestMention
    from ner_jax.features import QUERY_TEMPLATE, corpus_features, query_readings

    stored = corpus_features(extractor, bench, features)
    words = [q.text for q in bench.queries]
    scores = BestMention(
        lambda spec, template, at=("last",): query_readings(extractor, words, spec, template, at),
        QUERY_TEMPLATE,
        stored.mention_docs[stored.kept],
        lambda spec: stored.inputs(spec)[stored.kept],
        len(bench.documents),
    )
    return scores.projected(head)()


def pooled_scores(extractor, tap: str, bench, root: Path) -> np.ndarray:
    """[Q, D] cosine of the tap mean-pooled over the query's and the document's tokens (start
    token left out), both centred on the documents' mean: raw activations share a large common
    direction that would otherwise dominate every cosine."""
    from ner_jax.features import QUERY_TEMPLATE, l2_normalise
    from ner_jax.features.store import cached_means
    from ner_jax.model import parse_tap

    docs = cached_means(extractor, [d.text for d in bench.documents], root)[parse_tap(tap)]
    texts = [QUERY_TEMPLATE.format(q.text) for q in bench.queries]
    queries = cached_means(extractor, texts, root, progress=False)[parse_tap(tap)]
    centre = docs.mean(axis=0)
    return np.asarray(l2_normalise(queries - centre) @ l2_normalise(docs - centre).T)


def training_means(extractor, tap: str, workdir: Path) -> tuple[np.ndarray, dict]:
    """[N, width] the tap's mean over every EVERY-th text of the shipped head's training
    files, and what they were read from (for the head's record)."""
    from configs import head as configs

    from ner_jax.features.store import cached_means
    from ner_jax.index import read_documents
    from ner_jax.model import parse_tap

    files = configs.shipped(FLAGS.data, FLAGS.model, **configs.SHIPPED).train
    texts = [d.text for f in files for d in read_documents([f])[:: FLAGS.every]]
    root = workdir / "sentence_signal" / "features"
    about = {"files": list(files), "every": FLAGS.every}
    return cached_means(extractor, texts, root)[parse_tap(tap)], about


def sweep(head: np.ndarray, signals: dict, bench, parts: dict, weights: list[float]) -> list:
    """Rows of (signal, weight, R-Precision per part) for head + weight x signal; documents
    without a mention stay out, as in the index."""
    from ner_jax.data import NO_MENTION, evaluate_rankings, rank

    relevant = [q.relevant for q in bench.queries]
    rows = []
    for name, signal in signals.items():
        for weight in weights:
            fused = np.where(head > NO_MENTION, head + weight * signal, NO_MENTION)
            per_query = evaluate_rankings(rank(fused), relevant)["per_query_r_precision"]
            row = {"signal": name, "weight": weight}
            for part, keep in parts.items():
                picked = [per_query[i] for i, q in enumerate(bench.queries) if keep(q)]
                row[part] = float(np.mean(picked))
            rows.append(row)
    return rows


def narrowed(head, extractor, workdir: Path):
    """The shipped head with its projection refitted CONTEXT_DIMS narrower, on the unreduced
    outputs of its training mentions (their features cached in WORKDIR/features)."""
    from configs import head as configs

    from ner_jax.head import add_projection
    from ner_jax.head.mentions import load_mentions

    config = configs.shipped(FLAGS.data, FLAGS.model, **configs.SHIPPED)
    full = head.unreduced()
    features = workdir / "features"
    train = load_mentions(extractor, full.spec, config.corpora, config.train, features, False)
    about = {k: v for k, v in head.record["projection"].items() if k in ("files", "sha256")}
    dims = head.out_width - FLAGS.context_dims
    return add_projection(full, full.project(train.inputs), dims, about)


def main(argv: list[str]) -> None:
    del argv
    from configs import head as configs  # experiments/ is sys.path[0]
    from report import write_report  # experiments/ is sys.path[0]

    from ner_jax.data import build_benchmark, load_query_words
    from ner_jax.evaluation import baselines
    from ner_jax.evaluation.minilm import MiniLM
    from ner_jax.features import extractor_for
    from ner_jax.head import add_context, load_head, save_head, shipped_head, without_context

    workdir, weights = Path(FLAGS.workdir), [float(w) for w in FLAGS.weights]
    root = workdir / "sentence_signal" / "features"
    held_out = load_head(workdir / "lto" / configs.SHIPPED["variant"] / "head.safetensors")
    raw_mix = configs.SHIPPED["raw_mix"]
    held_out = dataclasses.replace(held_out, record={**held_out.record, "raw_mix": raw_mix})
    shipped = without_context(load_head(shipped_head(FLAGS.model)))
    tap = shipped.spec.taps[0]
    extractor = extractor_for(FLAGS.model, sorted({tap, *held_out.spec.taps}))
    minilm = MiniLM.load()
    words = {}
    for name in ("fewnerd", "crossner", "multiconer"):  # one label, one wording, across corpora
        words |= load_query_words(Path(FLAGS.data) / "queries" / f"{name}.json")
    benches = {
        "selection": build_benchmark(selection_corpus(FLAGS.data, workdir), words),
        "descriptions": build_benchmark(
            [DESCRIPTIONS / "sentences.jsonl"], load_query_words(DESCRIPTIONS / "queries.json")
        ),
    }
    groups = json.loads((DESCRIPTIONS / "groups.json").read_text())
    parts = {
        "selection": {"held_out": lambda q: q.text in configs.HELD_OUT_TYPES},
        "descriptions": {
            part: (lambda q, labels=frozenset(labels): q.type in labels)
            for part, labels in groups.items()
        },
    }
    means, about = training_means(extractor, tap, workdir)
    narrow = narrowed(shipped, extractor, workdir)
    context = f"context part ({FLAGS.context_dims} dims)"
    report: dict = {"held_out_types": list(configs.HELD_OUT_TYPES), "weights": weights}
    for corpus, bench in benches.items():
        head, beside = (held_out, held_out) if corpus == "selection" else (shipped, narrow)
        docs, texts = [d.text for d in bench.documents], [q.text for q in bench.queries]
        signals = {
            "MiniLM": baselines.sentence_scores(minilm, docs, texts),
            f"pooled {tap}": pooled_scores(extractor, tap, bench, root),
        }
        scores = head_scores(head, extractor, bench, root)
        report[corpus] = sweep(scores, signals, bench, parts[corpus], weights)
        for weight in weights:  # the product's path: one vector per mention, one search
            fused = beside
            if weight:
                fused = add_context(beside, means, weight, FLAGS.context_dims, about)
            row = sweep(
                head_scores(fused, extractor, bench, root), {context: 0}, bench, parts[corpus], [0]
            )[0]
            report[corpus].append({**row, "weight": weight})
    chosen = {
        signal: max(
            (r for r in report["selection"] if r["signal"] == signal),
            key=lambda r: r["held_out"],
        )["weight"]
        for signal in {r["signal"] for r in report["selection"]}
    }
    rows = [r for r in report["selection"] if r["signal"] == context]
    best = max(r["held_out"] for r in rows)
    chosen[context] = max(r["weight"] for r in rows if r["held_out"] >= best - FLAGS.tolerance)
    report["chosen"] = chosen
    report["rows"] = [
        {**s, **{k: v for k, v in d.items() if k not in ("signal", "weight")}}
        for s, d in zip(report["selection"], report["descriptions"], strict=True)
    ]
    write_report(
        Path(FLAGS.out),
        report,
        {
            "signal": lambda r: r["signal"],
            "weight": lambda r: (
                f"{r['weight']:g}" + " (chosen)" * (chosen[r["signal"]] == r["weight"])
            ),
            "held-out types (selection files)": lambda r: f"{r['held_out']:.3f}",
            "compositional descriptions": lambda r: f"{r['compositional']:.3f}",
            "base types": lambda r: f"{r['base']:.3f}",
        },
    )
    print(f"chosen on held-out types: {chosen}")
    if FLAGS.ship:
        about = {
            **about,
            "selection": "experiments/sentence_signal.py",
            "tolerance": FLAGS.tolerance,
        }
        fused = add_context(narrow, means, chosen[context], FLAGS.context_dims, about)
        print(f"wrote {save_head(shipped_head(FLAGS.model), fused.params, fused.record)}")


if __name__ == "__main__":
    from ner_jax.cli import run_launcher, use_all_cpu_cores

    use_all_cpu_cores()
    run_launcher(main)
