"""Activations at mentions: batching, the extractor, the on-disk store, and head inputs."""

from ner_jax.features.batching import bucket, plan_batches
from ner_jax.features.descriptions import READINGS, head_phrase_end
from ner_jax.features.extractor import (
    Encodings,
    FeatureExtractor,
    extractor_for,
    l2_normalise,
    mention_tokens,
)
from ner_jax.features.inputs import (
    QUERY_TEMPLATE,
    InputSpec,
    corpus_features,
    mention_inputs,
    query_inputs,
    query_readings,
)
from ner_jax.features.store import extract_to_store

__all__ = [
    "Encodings",
    "FeatureExtractor",
    "InputSpec",
    "QUERY_TEMPLATE",
    "READINGS",
    "bucket",
    "corpus_features",
    "extract_to_store",
    "extractor_for",
    "head_phrase_end",
    "l2_normalise",
    "mention_inputs",
    "mention_tokens",
    "plan_batches",
    "query_inputs",
    "query_readings",
]
