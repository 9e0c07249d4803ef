"""`ner-jax demo`: the default model end to end on the small demo corpus shipped in the package."""

from __future__ import annotations

import json
import time
from importlib import resources

import numpy as np
from absl import flags

from ner_jax.decoder import COMPONENT_NAMES, COMPONENTS
from ner_jax.features import FeatureExtractor, l2_normalise
from ner_jax.models import DEFAULT_MODEL, load_model

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("model", DEFAULT_MODEL, "named model, HF checkpoint dir or .gguf file")
    flags.DEFINE_integer("tap_block", None, "block read (default: the model's measured tap)")
    flags.DEFINE_enum("component", None, list(COMPONENTS), "activation read (default: model's)")
    flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "compute dtype")


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
    what = COMPONENT_NAMES[model.component]
    c = model.config
    print(
        f"model {model.name}: {c.architecture}, {c.num_hidden_layers} blocks, d={c.hidden_size}, "
        f"{c.num_key_value_heads} kv heads x {c.head_dim}; reading {what} of block "
        f"{model.tap_block} "
        f"(blocks after it never run); loaded in {time.perf_counter() - started:.1f}s"
    )
    texts, spans, types = demo_corpus()
    started = time.perf_counter()
    extract = FeatureExtractor(model)
    vectors = extract(texts, spans)[0][model.component][0]  # [mentions, width] at the tap
    labels = sorted(set(types))
    queries = extract.embed_queries(labels)[model.component][0]
    mentions = [(d, s, e) for d, doc in enumerate(spans) for s, e in doc]
    print(
        f"{len(texts)} documents, {len(mentions)} gold mentions -> {vectors.shape} "
        f"{vectors.dtype}; {len(labels)} type names -> {queries.shape}; "
        f"{time.perf_counter() - started:.1f}s"
    )
    # Raw activations share a large common direction; centring on the corpus mean removes it.
    mean = vectors.mean(axis=0)
    unit = l2_normalise(vectors - mean)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    print("\nnearest neighbour of each mention (cosine of centred raw vectors, no head):")
    for i, j in enumerate(nearest):
        mark = "ok " if types[i] == types[j] else "-- "
        print(
            f"  {mark}{_surface(texts, mentions[i]):18s} [{types[i]}] -> "
            f"{_surface(texts, mentions[j])} [{types[j]}]"
        )
    same = np.mean([types[i] == types[j] for i, j in enumerate(nearest)])
    print(f"same type as nearest neighbour: {same:.0%} of {len(mentions)} mentions")
    scores = l2_normalise(queries - mean) @ unit.T
    print("\ntype name as query (no head yet: the head issue trains one), top 3 mentions:")
    for label, row in zip(labels, scores, strict=True):
        top = np.argsort(-row)[:3]
        hits = ", ".join(
            f"{_surface(texts, mentions[i])}{'' if types[i] == label else '*'}" for i in top
        )
        print(f"  {label:22s} {hits}")
    print("(* = a mention of another type)")


def _surface(texts: list[str], mention: tuple[int, int, int]) -> str:
    doc, start, end = mention
    return texts[doc][start:end]
