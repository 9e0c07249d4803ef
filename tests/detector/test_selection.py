"""The operating point chosen by retrieval, and a corpus-held-out evaluation on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from support.tiny_models import named_sentences

from ner_jax.detector import (
    RetrievalSplit,
    choose_threshold,
    extract_tokens,
    load_detector,
    sweep,
)
from ner_jax.features import FeatureExtractor, InputSpec, l2_normalise, query_inputs
from ner_jax.model import load_model


def test_choose_threshold_keeps_the_fewest_vectors_within_tolerance():
    points = [(None, 0.9), (0.0, 0.70), (0.1, 0.80), (0.2, 0.796), (0.3, 0.79), (0.5, 0.6)]
    swept = {"points": [{"threshold": t, "r_precision": r} for t, r in points]}
    assert choose_threshold(swept) == 0.2  # Viterbi (None) is no operating point
    assert choose_threshold(swept, tolerance=0.0) == 0.1
    assert choose_threshold(swept, tolerance=0.02) == 0.3
    # Several sweeps: their mean decides (0.1: 0.75, 0.2: 0.748, 0.3: 0.735).
    other = {
        "points": [
            {"threshold": t, "r_precision": r}
            for t, r in [(None, 0.1), (0.0, 0.7), (0.1, 0.7), (0.2, 0.7), (0.3, 0.68), (0.5, 0.7)]
        ]
    }
    assert choose_threshold([swept, other]) == 0.2
    with pytest.raises(ValueError, match="differ"):
        choose_threshold([swept, {"points": swept["points"][:3]}])
    with pytest.raises(ValueError, match="no thresholds"):
        choose_threshold({"points": [{"threshold": None, "r_precision": 1.0}]})


def test_held_out_corpus_evaluation_end_to_end(trained):
    """Select the operating point on the training corpus's selection texts, then measure
    retrieval with detected vs gold spans on texts the detector never saw."""
    model, path = trained
    detector = load_detector(path)
    extractor = FeatureExtractor(load_model(model, 0), ("resid_in", "v"), (0,))

    def split(count: int, seed: int) -> RetrievalSplit:
        # A mention's type is its last word ("castle" for "oban castle"): token embeddings
        # (resid_in@0) then retrieve its texts exactly, given the right mention ends.
        texts, spans = named_sentences(count, seed)
        tokens = extract_tokens(extractor, texts, spans, detector.taps, progress=False)
        types = [[t[a:b].split()[-1] for a, b in s] for t, s in zip(texts, spans, strict=True)]
        kinds = sorted({k for found in types for k in found})
        relevant = [[d for d, found in enumerate(types) if k in found] for k in kinds]
        queries = query_inputs(extractor, kinds, InputSpec(("resid_in@0",)))
        vectors = l2_normalise(tokens.features["resid_in@0"].astype(np.float32))
        return RetrievalSplit(tokens, relevant, queries, vectors)

    select, test = split(60, 1), split(80, 7)  # the detector was trained on seed 0 only
    swept = sweep(detector, [select])
    assert len(swept["points"]) > 3 and swept["gold"]["r_precision"] > 0.95
    threshold = choose_threshold(swept)
    held_out = sweep(detector.with_threshold(threshold), [test], (threshold, None, 0.0))
    gold = held_out["gold"]["r_precision"]
    chosen, viterbi, every_word = held_out["points"]
    assert gold > 0.95
    assert chosen["r_precision"] >= 0.9 * gold, held_out  # detected within 10% of gold
    # "castle" is also a plain word: indexing every word retrieves its texts too.
    assert every_word["r_precision"] < chosen["r_precision"]
    assert every_word["mentions_per_document"] > chosen["mentions_per_document"]
    assert chosen["per_split"][0]["end_recall"] >= viterbi["per_split"][0]["end_recall"] - 0.01
