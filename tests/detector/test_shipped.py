"""The shipped detector on real weights: lower-casing a sentence loses none of its mentions."""

from __future__ import annotations

import pytest

from ner_jax.detector import detect_mentions, load_detector, shipped_detector
from ner_jax.features import extractor_for

pytestmark = pytest.mark.real_weights

SENTENCES = (
    "Marie Curie worked in Paris with Pierre Curie at the University of Paris.",
    "The Rolling Stones played Wembley Stadium before flying to Tokyo.",
    "Insulin and keratin were studied at the Karolinska Institute in Stockholm.",
)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_lower_casing_keeps_every_mention(sentence):
    detector = load_detector(shipped_detector("gemma3-270m"))
    extractor = extractor_for("gemma3-270m", detector.taps)
    variants = [sentence, sentence.lower()]  # users' text is often lower-cased (MultiCoNER is)
    found = detect_mentions(extractor, detector, variants).spans
    assert found[0], f"no mentions found in {sentence!r}"
    shown = {v: [v[a:b] for a, b in f] for v, f in zip(variants, found, strict=True)}
    # Recall first: lower-cased text may add a candidate ("marie" inside "marie curie"), but
    # every mention of the text as written is found again.
    assert set(found[0]) <= set(found[1]), shown
