"""Retrieval benchmarks of labelled data: our systems, baselines and the tap probe."""

from ner_jax.evaluation.baselines import bm25_scores, sentence_scores
from ner_jax.evaluation.config import SPANS, SYSTEMS, EvaluateConfig
from ner_jax.evaluation.minilm import MiniLM
from ner_jax.evaluation.probing import ProbeConfig, probe
from ner_jax.evaluation.run import evaluate, summary

__all__ = [
    "EvaluateConfig",
    "MiniLM",
    "ProbeConfig",
    "SPANS",
    "SYSTEMS",
    "evaluate",
    "probe",
    "bm25_scores",
    "sentence_scores",
    "summary",
]
