"""The type-agnostic mention detector: a token tagger over the decoder's own activations."""

from ner_jax.detector.candidates import candidate_spans, check_threshold
from ner_jax.detector.data import TokenData, extract_tokens
from ner_jax.detector.mentions import detect_mentions
from ner_jax.detector.selection import (
    THRESHOLDS,
    RetrievalSplit,
    choose_threshold,
    sweep,
    tag_log_probs,
)
from ner_jax.detector.tagger import (
    NO_DETECTOR,
    Detector,
    load_detector,
    resolve_detector,
    save_detector,
    shipped_detector,
)
from ner_jax.detector.tags import span_scores, tag_spans
from ner_jax.detector.training import DetectorTrainConfig, evaluate_detector, train_detector

__all__ = [
    "Detector",
    "DetectorTrainConfig",
    "NO_DETECTOR",
    "RetrievalSplit",
    "THRESHOLDS",
    "TokenData",
    "candidate_spans",
    "check_threshold",
    "choose_threshold",
    "detect_mentions",
    "evaluate_detector",
    "extract_tokens",
    "load_detector",
    "resolve_detector",
    "save_detector",
    "shipped_detector",
    "span_scores",
    "sweep",
    "tag_log_probs",
    "tag_spans",
    "train_detector",
]
