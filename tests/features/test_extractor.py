"""Span -> token mapping and batched feature extraction, on one device and several."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.reference import relative_error
from support.tiny_models import SHORT_SPANS, SHORT_TEXTS, tiny_checkpoint

from ner_jax.features.extractor import TRUNCATED, FeatureExtractor, mention_tokens, start_token
from ner_jax.model.loaded import load_model
from ner_jax.model.registry import checkpoint_dir
from ner_jax.model.tokenizer import Tokenizer


def test_mention_tokens_by_hand():
    # <bos> "the" " castle" " in" " edin" "burgh"   (offsets include the leading space)
    offsets = np.array([[0, 0], [0, 3], [3, 10], [10, 13], [13, 18], [18, 23]])
    spans = [(4, 10), (14, 23), (0, 3), (14, 18), (30, 35)]
    assert mention_tokens(offsets, spans).tolist() == [2, 5, 1, 4, TRUNCATED]


def test_mention_tokens_of_single_spans():
    # <bos>, "Hello", " Zür", "ich", "!"  for "Hello Zürich!"
    offsets = np.array([[0, 0], [0, 5], [5, 9], [9, 12], [12, 13]], dtype=np.int32)
    assert mention_tokens(offsets, [(0, 5)]).tolist() == [1]  # "Hello"
    # "Zürich" ends inside the third token
    assert mention_tokens(offsets, [(6, 12)]).tolist() == [3]
    assert mention_tokens(offsets, [(12, 13)]).tolist() == [4]
    assert mention_tokens(offsets, [(6, 10)]).tolist() == [3]
    assert mention_tokens(offsets, [(0, 0)]).tolist() == [TRUNCATED]  # no token of its own


WORDS = ["castle", "Zürich", "東京", "naïve", "C++", "rock'n'roll", "e-mail", "42", "🎉", "the"]


@pytest.fixture(scope="module", params=["gemma3-270m", "smollm2-135m"])
def real_tokenizer(request):
    return Tokenizer.from_file(checkpoint_dir(request.param) / "tokenizer.json")


@pytest.mark.real_weights
@settings(max_examples=60, deadline=None)
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), data=st.data())
def test_last_sub_token_properties(real_tokenizer, words, data):
    text = " ".join(words)
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    first = data.draw(st.integers(0, len(words) - 1))
    last = data.draw(st.integers(first, len(words) - 1))
    start, end = int(starts[first]), int(starts[last] + len(words[last]))
    encoding = real_tokenizer.encode(text)
    (t,) = mention_tokens(encoding.offsets, [(start, end)])
    real = encoding.offsets[:, 1] > encoding.offsets[:, 0]
    assert t != TRUNCATED
    assert real[t] and encoding.offsets[t, 0] < end and encoding.offsets[t, 1] > start
    later = np.arange(len(real)) > t
    assert np.all(encoding.offsets[later & real, 0] >= end)  # nothing later starts inside
    if real_tokenizer.bos_id is not None:  # BOS shifts every token by one
        assert encoding.ids[0] == real_tokenizer.bos_id and t >= 1


def test_spans_cut_by_truncation_are_dropped_not_misplaced(tiny):
    full, kept = FeatureExtractor(tiny)(SHORT_TEXTS, SHORT_SPANS)
    assert kept.all()
    cut, kept = FeatureExtractor(tiny, max_tokens=6)(SHORT_TEXTS, SHORT_SPANS)
    # "berlin" is token 13 of text 3 (after <bos>): past 6 tokens, so it has no features.
    assert kept.tolist() == [True] * 7 + [False]
    assert not cut["v"][0, 7].any()
    assert relative_error(cut["v"][0, :7], full["v"][0, :7]) <= 1e-5  # causal: prefix unchanged


def test_mention_vectors_do_not_depend_on_batch_mates(tiny):
    texts = ["the castle in edinburgh is old", "stirling has a view of the forth", "the castle"]
    spans = [[(4, 10), (14, 23)], [(0, 8)], [(4, 10)]]
    together = FeatureExtractor(tiny, token_budget=64)(texts, spans)[0]["v"][0]
    alone = np.concatenate(
        [FeatureExtractor(tiny)([t], [s])[0]["v"][0] for t, s in zip(texts, spans, strict=True)]
    )
    # Different batch shapes round differently: the fp32 rule, relative to the largest value.
    assert relative_error(together, alone) <= 1e-5
    # "castle" after "<bos> the" is the same token in the same context in texts 0 and 2.
    assert relative_error(together[0], together[3]) <= 1e-5
    assert not np.allclose(together[0], together[1])
    every = FeatureExtractor(tiny, blocks=(0, 1, 2))(texts, spans)[0]["v"]
    assert every.shape == (3, 4, tiny.config.value_width)
    assert relative_error(every[-1], together) <= 1e-5


@pytest.mark.real_weights
def test_texts_start_with_bos_or_the_document_separator():
    gemma = Tokenizer.from_file(checkpoint_dir("gemma3-270m") / "tokenizer.json")
    smollm = Tokenizer.from_file(checkpoint_dir("smollm2-135m") / "tokenizer.json")
    assert start_token(gemma) is None and gemma.encode("castle").ids[0] == gemma.bos_id
    assert smollm.bos_id is None  # its tokenizer adds nothing: we add <|endoftext|>
    assert smollm.backend.id_to_token(start_token(smollm)) == "<|endoftext|>"


TESTS = Path(__file__).resolve().parents[1]  # on PYTHONPATH, for support.tiny_models


SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, jax
    from ner_jax.features.extractor import FeatureExtractor
    from ner_jax.model.loaded import load_model
    from support.tiny_models import SHORT_SPANS, SHORT_TEXTS
    assert len(jax.devices()) == 3, jax.devices()
    model = load_model(sys.argv[1], tap_block=2)
    extractor = FeatureExtractor(model, ("v", "mlp"), (0, 2), token_budget=64)
    out, kept = extractor(SHORT_TEXTS * 5, SHORT_SPANS * 5)
    np.savez(sys.argv[2], kept=kept, **out)
    """
)


def test_three_devices_give_the_single_device_features(tmp_path):
    directory = str(tiny_checkpoint(tmp_path / "model"))
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=3",  # odd: rows must still divide
        "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, directory, str(tmp_path / "out.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sharded = np.load(tmp_path / "out.npz")
    model = load_model(directory, tap_block=2)
    single, kept = FeatureExtractor(model, ("v", "mlp"), (0, 2))(SHORT_TEXTS * 5, SHORT_SPANS * 5)
    assert np.array_equal(sharded["kept"], kept)
    for name in ("v", "mlp"):
        assert relative_error(sharded[name], single[name]) <= 1e-5
