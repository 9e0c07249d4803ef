"""The mention detector: tags and decoding, the tagger's window, training, files, windows."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from tiny_models import named_sentences, tiny_checkpoint, tiny_detector

from ner_jax.detected_mentions import detect_mentions
from ner_jax.detector import MentionTagger, load_detector
from ner_jax.detector_data import extract_tokens
from ner_jax.detector_tags import B, I, O, decode, span_scores, tag_spans, token_tags, viterbi
from ner_jax.detector_train import evaluate
from ner_jax.features import FeatureExtractor
from ner_jax.head_inputs import InputSpec, mention_inputs
from ner_jax.models import load_model
from ner_jax.windows import cover_windows, window_size


def test_tags_follow_token_characters_and_decode_back():
    text = "We met  Ada Lovelace in (London)."
    # Subword-style offsets: a token owns the space before it; "(" and ")." are tokens.
    offsets = np.array(
        [[0, 0], [0, 2], [2, 6], [6, 11], [11, 20], [20, 23], [23, 25], [25, 31], [31, 33]]
    )
    spans = [(8, 20), (25, 31)]
    tags = token_tags(text, offsets, spans)
    assert tags.tolist() == [O, O, O, B, I, O, O, B, O]
    assert tag_spans(text, offsets, tags) == spans
    log_probs = np.log(np.eye(3)[tags] * 0.98 + 0.01)
    assert decode(text, offsets, log_probs) == spans


def test_viterbi_never_starts_a_mention_with_I():
    # Token 1 prefers I after an O-leaning token 0: the best allowed path is B I or O O.
    log_probs = np.log(np.array([[0.6, 0.4, 0.0001], [0.1, 0.2, 0.7], [0.9, 0.05, 0.05]]))
    path = viterbi(log_probs, np.ones(3, bool))
    assert path.tolist() == [B, I, O]  # 0.4 * 0.7 beats 0.6 * 0.2
    assert viterbi(log_probs, np.array([False, True, True])).tolist() == [O, B, O]
    scores = span_scores([[(0, 2), (3, 4)], []], [[(0, 2)], [(5, 6)]])
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["f1"] == 0.5


def test_tagger_reads_exactly_its_window():
    module = MentionTagger(hidden=8, context=(1, 2), dropout=0.0)
    x = np.random.default_rng(0).normal(size=(1, 10, 5)).astype(np.float32)
    params = module.init(jax.random.key(0), x)["params"]
    base = np.asarray(module.apply({"params": params}, x))
    for moved in range(10):
        y = x.copy()
        y[0, moved] += 1.0
        changed = np.abs(np.asarray(module.apply({"params": params}, y)) - base).max(-1)[0] > 0
        assert np.flatnonzero(changed).tolist() == [
            t for t in range(10) if moved - 2 <= t <= moved + 1
        ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("detector")
    model = str(tiny_checkpoint(root / "model"))
    return model, tiny_detector(root / "names", model)


def test_training_learns_the_names_and_files_round_trip(trained):
    model, path = trained
    detector = load_detector(path)
    assert detector.taps == ("resid_in@0", "v@0") and detector.record["o_bias"] in (
        -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0,
    )  # fmt: skip
    extractor = FeatureExtractor(load_model(model, 0), ("resid_in", "v"), (0,))
    held_out = extract_tokens(extractor, *named_sentences(80, 7), detector.taps, progress=False)
    scores = evaluate(detector, held_out)
    assert scores["f1"] > 0.9, scores
    assert detector.record["log"][-1]["f1"] > detector.record["log"][0]["f1"] - 0.05


def test_detected_mentions_are_read_as_given_spans_would_be(trained):
    model, path = trained
    detector = load_detector(path)
    spec = InputSpec(("v@1", "attn@2"), sentence_end=True)
    extractor = FeatureExtractor(load_model(model, 2), ("attn", "resid_in", "v"), (0, 1, 2))
    texts, _ = named_sentences(12, 3)
    found = detect_mentions(extractor, detector, texts)
    assert sum(map(len, found.spans)) > 10
    given, kept = mention_inputs(extractor, texts, found.spans, spec)
    assert kept.all()
    np.testing.assert_allclose(found.inputs(spec), given, atol=1e-6)
    assert found.docs.tolist() == [d for d, s in enumerate(found.spans) for _ in s]


def test_cover_windows_own_every_token_once():
    text = " ".join("w" * (1 + i % 3) for i in range(100))
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
    offsets = np.array([[0, 0]] + [[s, s + 1 + i % 3] for i, s in enumerate(starts)])
    covers = cover_windows(text, offsets, max_real=10)
    size = window_size(10)
    assert covers[0].start == 0 and covers[-1].end == len(text)
    for token_end in offsets[1:, 1]:
        owners = [c for c in covers if c.own_start < token_end <= c.own_end]
        assert len(owners) == 1
        (owner,) = owners
        assert owner.start < token_end <= owner.end
        # A quarter window of context either side, except at the document's ends.
        assert len(text[owner.start : token_end].split()) >= min(size // 4, token_end // 4)
    assert cover_windows(text, offsets, max_real=100)[0].own_start == -1
