"""`ner-jax demo`: the default model end to end on the small demo corpus shipped in the package."""

from __future__ import annotations

import json
import time
from importlib import resources

import numpy as np
from absl import flags

from ner_jax.decoder import COMPONENTS
from ner_jax.features import QUERY_TEMPLATE, FeatureExtractor, l2_normalise
from ner_jax.head_file import load_head, shipped_head
from ner_jax.head_inputs import InputSpec, mention_inputs, query_inputs
from ner_jax.metrics import best_mention_scores
from ner_jax.models import DEFAULT_MODEL, load_model

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("model", DEFAULT_MODEL, "named model, HF checkpoint dir or .gguf file")
    flags.DEFINE_integer("tap_block", None, "block read (default: the model's measured tap)")
    flags.DEFINE_enum("component", None, list(COMPONENTS), "activation read (default: model's)")
    flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "compute dtype")
    flags.DEFINE_string(
        "head",
        None,
        "head file (default: the head shipped for the model; none"
        " when --tap_block or --component is set)",
    )


def demo_corpus() -> tuple[list[str], list[list[tuple[int, int]]], list[str]]:
    """(texts, gold mention spans per text, the mentions' types) from the packaged corpus."""
    texts, spans, types = [], [], []
    path = resources.files("ner_jax") / "assets" / "demo_corpus.jsonl"
    for line_number, line in enumerate(path.read_text().splitlines(), 1):
        record = json.loads(line)
        spans.append([])
        for surface, kind in record["mentions"]:
            start = record["text"].find(surface)
            if start < 0:
                raise ValueError(f"{path}:{line_number}: mention {surface!r} not in the text")
            spans[-1].append((start, start + len(surface)))
            types.append(kind)
        texts.append(record["text"])
    return texts, spans, types


def main(argv: list[str]) -> None:
    del argv
    started = time.perf_counter()
    model = load_model(FLAGS.model, FLAGS.tap_block, FLAGS.dtype, FLAGS.component)
    c = model.config
    head = load_head(FLAGS.head) if FLAGS.head else None
    if head is None and FLAGS.tap_block is None and FLAGS.component is None:
        shipped = shipped_head(model.name)
        head = load_head(shipped) if shipped else None
    tap = f"{model.component}@{model.tap_block}"
    spec = head.spec if head else InputSpec((tap,))
    if head and head.model != model.name:
        raise ValueError(f"--head reads {head.model} activations; --model is {model.name}")
    reads = ", ".join(spec.taps) + (" + sentence end" if spec.sentence_end else "")
    print(
        f"model {model.name}: {c.architecture}, {c.num_hidden_layers} blocks, d={c.hidden_size}, "
        f"{c.num_key_value_heads} kv heads x {c.head_dim}; reading {reads} "
        f"(blocks after {max(spec.blocks)} never run); loaded in "
        f"{time.perf_counter() - started:.1f}s"
    )
    print(f"head: {describe(head)}")
    texts, spans, types = demo_corpus()
    started = time.perf_counter()
    extractor = FeatureExtractor(model, spec.components, spec.blocks)
    inputs, _ = mention_inputs(extractor, texts, spans, spec)
    labels = sorted(set(types))
    template = head.query_template if head else QUERY_TEMPLATE
    queries = query_inputs(extractor, labels, spec, template)
    if head:
        inputs, queries = head.project(inputs), head.project(queries)
    mentions = [(d, s, e) for d, doc in enumerate(spans) for s, e in doc]
    print(
        f"{len(texts)} documents, {len(mentions)} gold mentions -> {inputs.shape} "
        f"{inputs.dtype}; {len(labels)} type names -> {queries.shape}; "
        f"{time.perf_counter() - started:.1f}s"
    )
    unit = l2_normalise(inputs)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    same = np.mean([types[i] == types[j] for i, j in enumerate(nearest)])
    print(f"same type as nearest neighbour: {same:.0%} of {len(mentions)} mentions")
    docs = np.array([d for d, _, _ in mentions])
    scores = l2_normalise(queries) @ unit.T  # [types, mentions]
    print("\ntype name as query: top 3 documents (best mention in [brackets], * = wrong type)")
    hits = []
    for label, row in zip(labels, scores, strict=True):
        best = best_mention_scores(row[None], docs, len(texts))[0]
        relevant = {d for (d, _, _), t in zip(mentions, types, strict=True) if t == label}
        ranking = np.argsort(-best, kind="stable")
        hits.append(np.mean([d in relevant for d in ranking[: len(relevant)]]))
        print(f"  {label}")
        for d in ranking[:3]:
            i = max(np.flatnonzero(docs == d), key=lambda m: row[m])
            mark = " " if types[i] == label else "*"
            print(f"   {mark}{best[d]:.2f}  {_highlight(texts, mentions[i])}")
    print(f"R-Precision over the {len(labels)} type names: {np.mean(hits):.2f}")


def describe(head) -> str:
    if head is None:
        return "none (raw activations, cosine)"
    data = head.record.get("data", {}).get("train", {})
    score = head.record.get("metrics", {}).get("select_r_precision")
    trained = (
        f", trained on {data['mentions']:,} mentions of {len(data['types'])} types" if data else ""
    )
    selected = f", selection R-Precision {score:.3f}" if score is not None else ""
    size = f"{head.params['fc1']['kernel'].shape[0]}->{head.module.hidden}->{head.module.out}"
    return f"{head.record.get('variant', 'trained')} head {size}{trained}{selected}"


def _highlight(texts: list[str], mention: tuple[int, int, int]) -> str:
    doc, start, end = mention
    text = texts[doc]
    return f"{text[:start]}[{text[start:end]}]{text[end:]}"
