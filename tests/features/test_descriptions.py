"""Where a description is read: its last token, and the end of its head phrase."""

from __future__ import annotations

import numpy as np
import pytest

from ner_jax.features import FeatureExtractor, InputSpec, query_inputs, query_readings
from ner_jax.features.descriptions import head_phrase_end


@pytest.mark.parametrize(
    ("description", "head"),
    [
        ("castle in Scotland", "castle"),
        ("space probe launched by NASA", "space probe"),
        ("Jazz musician from New York", "Jazz musician"),
        ("football club that won the Champions League", "football club"),
        ("disease caused by a virus", "disease"),
        ("Italian painter", "Italian painter"),
        ("volcano", "volcano"),
        ("castle, in Scotland", "castle,"),
        ("  river  ", "  river"),
        ("in Scotland", "in Scotland"),  # no head before the first word: the whole text
    ],
)
def test_head_phrase_ends_before_the_first_post_modifier(description, head):
    assert description[: head_phrase_end(description)] == head


def test_a_description_is_read_at_its_last_token_and_at_its_head_in_one_forward(tiny):
    extractor = FeatureExtractor(tiny, ("attn", "v"), (1, 2))
    texts = ["castle in edinburgh", "football club from berlin", "island"]
    found = extractor.embed_queries(texts, " {}", ("last", "head"))
    # By hand: the head position is the last token of the text cut after its head phrase
    # (the decoder is causal), the last position that of the whole text.
    cut = [" castle", " football club", " island"]
    whole = [" " + t for t in texts]
    expected, _ = extractor([*whole, *cut], [[(0, len(t))] for t in [*whole, *cut]])
    for name in ("attn", "v"):
        rows = found[name].reshape(2, 3, 2, -1)  # [blocks, texts, positions, width]
        np.testing.assert_allclose(rows[:, :, 0], expected[name][:, :3], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rows[:, :, 1], expected[name][:, 3:], rtol=1e-5, atol=1e-6)
    # A one-word description is read at the same token either way.
    np.testing.assert_array_equal(found["v"][:, 4], found["v"][:, 5])
    spec = InputSpec(("v@1", "attn@2"))
    readings = query_readings(extractor, texts, spec, " {}", ("head", "last"))
    assert readings.shape == (2, 3, spec.width(tiny.config))
    np.testing.assert_array_equal(readings[1], query_inputs(extractor, texts, spec, " {}"))
    with pytest.raises(ValueError, match=r"unknown query positions \['middle'\]"):
        extractor.embed_queries(texts, " {}", ("middle",))


def test_a_context_spec_reads_the_description_alone_for_its_mean(tiny):
    """With spec.context every reading of a description ends with the taps averaged over the
    description written alone (QUERY_TEMPLATE), whatever template its positions are read in."""
    extractor = FeatureExtractor(tiny, ("attn", "v"), (1, 2))
    texts = ["castle in edinburgh", "island"]
    spec = InputSpec(("v@1", "attn@2"), context=True)
    plain = InputSpec(("v@1", "attn@2"))
    width = plain.width(tiny.config)
    for template in (" Examples of {}:", " {}"):
        readings = query_readings(extractor, texts, spec, template, ("last", "head"))
        assert readings.shape == (2, 2, spec.width(tiny.config))
        without = query_readings(extractor, texts, plain, template, ("last", "head"))
        np.testing.assert_allclose(readings[..., :width], without, rtol=1e-5, atol=1e-6)
        per_text, _ = extractor.all_tokens([" " + t for t in texts])
        blocks = list(extractor.blocks)
        means = np.concatenate(
            [
                np.stack([f[c][blocks.index(b), 1:].mean(axis=0) for f in per_text])
                for c, b in spec.parsed
            ],
            axis=1,
        )
        for position in range(2):
            np.testing.assert_allclose(readings[position, :, width:], means, rtol=1e-5, atol=1e-6)
