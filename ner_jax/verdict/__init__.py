"""The decoder's verdict on whether a mention is what a description says: rescoring hits."""

from ner_jax.verdict.rerank import (
    VERDICT_DEPTH,
    VERDICT_MENTIONS,
    VERDICT_WEIGHT,
    Candidate,
    combined_order,
    reranked,
    statement,
    verdicts,
)
from ner_jax.verdict.scorer import Verdict

__all__ = [
    "Candidate",
    "VERDICT_DEPTH",
    "VERDICT_MENTIONS",
    "VERDICT_WEIGHT",
    "Verdict",
    "combined_order",
    "reranked",
    "statement",
    "verdicts",
]
