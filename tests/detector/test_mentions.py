"""Detected mentions: read as given spans of the same text would be."""

from __future__ import annotations

import numpy as np
import pytest
from support.tiny_models import named_sentences

from ner_jax.detector.mentions import detect_mentions
from ner_jax.detector.tagger import load_detector
from ner_jax.features.extractor import FeatureExtractor
from ner_jax.features.inputs import InputSpec, mention_inputs
from ner_jax.model.loaded import load_model


@pytest.mark.parametrize("context", [False, True])
def test_detected_mentions_are_read_as_given_spans_would_be(trained, context):
    model, path = trained
    detector = load_detector(path)
    spec = InputSpec(("v@1", "attn@2"), sentence_end=True, context=context)
    extractor = FeatureExtractor(load_model(model, 2), ("attn", "resid_in", "v"), (0, 1, 2))
    texts, _ = named_sentences(12, 3)
    found = detect_mentions(extractor, detector, texts)
    assert sum(map(len, found.spans)) > 10
    given, kept = mention_inputs(extractor, texts, found.spans, spec)
    assert kept.all()
    np.testing.assert_allclose(found.inputs(spec), given, atol=1e-6)
    assert found.docs.tolist() == [d for d, s in enumerate(found.spans) for _ in s]
