"""Labelled corpora, the retrieval benchmark built from them, and its metrics."""

from ner_jax.data.benchmark import (
    Benchmark,
    Query,
    build_benchmark,
    is_catch_all,
    load_label_lists,
    load_query_words,
    natural_words,
)
from ner_jax.data.datasets import Sentence, Span, json_object, read_labelled
from ner_jax.data.metrics import NO_MENTION, best_mention_scores, evaluate_rankings, rank

__all__ = [
    "Benchmark",
    "NO_MENTION",
    "Query",
    "Sentence",
    "Span",
    "best_mention_scores",
    "build_benchmark",
    "evaluate_rankings",
    "is_catch_all",
    "json_object",
    "load_label_lists",
    "load_query_words",
    "natural_words",
    "rank",
    "read_labelled",
]
