"""Detector training: it learns the names, and its files round-trip."""

from __future__ import annotations

from support.tiny_models import named_sentences

from ner_jax.detector.data import extract_tokens
from ner_jax.detector.tagger import load_detector
from ner_jax.detector.training import evaluate_detector
from ner_jax.features.extractor import FeatureExtractor
from ner_jax.model.loaded import load_model


def test_training_learns_the_names_and_files_round_trip(trained):
    model, path = trained
    detector = load_detector(path)
    # Trained without an operating point: it decodes one Viterbi path.
    assert detector.taps == ("resid_in@0", "v@0") and detector.threshold is None
    extractor = FeatureExtractor(load_model(model, 0), ("resid_in", "v"), (0,))
    held_out = extract_tokens(extractor, *named_sentences(80, 7), detector.taps, progress=False)
    scores = evaluate_detector(detector, held_out)
    assert scores["f1"] > 0.9, scores
    assert detector.record["log"][-1]["f1"] > detector.record["log"][0]["f1"] - 0.05
