"""Span -> token mapping, batched feature extraction and the resumable feature store."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import relative_error
from tiny_models import tiny_checkpoint

from ner_jax.feature_store import FeatureStore, extract_to_store
from ner_jax.features import TRUNCATED, FeatureExtractor, mention_tokens, start_token
from ner_jax.models import checkpoint_dir, load_model
from ner_jax.tokenizer import Tokenizer


def test_mention_tokens_by_hand():
    # <bos> "the" " castle" " in" " edin" "burgh"   (offsets include the leading space)
    offsets = np.array([[0, 0], [0, 3], [3, 10], [10, 13], [13, 18], [18, 23]])
    spans = [(4, 10), (14, 23), (0, 3), (14, 18), (30, 35)]
    assert mention_tokens(offsets, spans).tolist() == [2, 5, 1, 4, TRUNCATED]


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


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return load_model(str(tiny_checkpoint(tmp_path_factory.mktemp("tiny"))), tap_block=2)


TEXTS = [
    "the castle in edinburgh is old",
    "python and rust",
    "insulin",
    "curie and meitner visited paris and lisbon and porto and madrid and berlin",
    "the",
]
SPANS = [[(4, 10), (14, 23)], [(0, 6), (11, 15)], [(0, 7)], [(0, 5), (10, 17), (67, 73)], []]


def test_spans_cut_by_truncation_are_dropped_not_misplaced(tiny):
    full, kept = FeatureExtractor(tiny)(TEXTS, SPANS)
    assert kept.all()
    cut, kept = FeatureExtractor(tiny, max_tokens=6)(TEXTS, SPANS)
    # "berlin" is token 13 of text 3 (after <bos>): past 6 tokens, so it has no features.
    assert kept.tolist() == [True] * 7 + [False]
    assert not cut["v"][0, 7].any()
    assert relative_error(cut["v"][0, :7], full["v"][0, :7]) <= 1e-5  # causal: prefix unchanged


class Interrupted(Exception):
    pass


def test_store_resumes_after_a_kill_without_duplicates(tiny, tmp_path):
    texts, spans = TEXTS * 3, SPANS * 3
    extractor = FeatureExtractor(tiny, components=("v", "resid_out"), blocks=(1, 2))
    calls = []

    def dying(*args, **kwargs):
        if len(calls) == 2:
            raise Interrupted
        calls.append(len(args[0]))
        return extractor(*args, **kwargs)

    class Dying:  # the real extractor, killed while encoding its third shard
        def __getattr__(self, name):
            return getattr(extractor, name)

        __call__ = staticmethod(dying)

    with pytest.raises(Interrupted):
        extract_to_store(Dying(), texts, spans, tmp_path, shard_docs=4, progress=False)
    assert sorted(p.name for p in (tmp_path / "shards").glob("*.npz")) == ["00000.npz", "00001.npz"]
    assert not (tmp_path / "meta.json").exists()
    calls.clear()
    store = extract_to_store(Dying(), texts, spans, tmp_path, shard_docs=4, progress=False)
    assert calls == [4, 3]  # only the two unfinished shards were encoded
    fresh, kept = extractor(texts, spans)
    assert store.meta["mentions"] == len(kept) == 24
    for name in ("v", "resid_out"):
        for i, block in enumerate((1, 2)):
            assert relative_error(store.get(name, block), fresh[name][i]) <= 1e-5
    assert not (tmp_path / "shards").exists()
    # A finished store is reused as is; a different corpus replaces it.
    calls.clear()
    assert extract_to_store(Dying(), texts, spans, tmp_path, progress=False).meta == store.meta
    assert calls == []
    other = extract_to_store(Dying(), TEXTS, SPANS, tmp_path, progress=False)
    assert other.meta["mentions"] == 8
    with pytest.raises(KeyError, match="not q at block 1"):
        other.get("q", 1)
    with pytest.raises(FileNotFoundError, match="not a finished feature store"):
        FeatureStore(tmp_path / "nowhere")


@pytest.mark.real_weights
def test_texts_start_with_bos_or_the_document_separator():
    gemma = Tokenizer.from_file(checkpoint_dir("gemma3-270m") / "tokenizer.json")
    smollm = Tokenizer.from_file(checkpoint_dir("smollm2-135m") / "tokenizer.json")
    assert start_token(gemma) is None and gemma.encode("castle").ids[0] == gemma.bos_id
    assert smollm.bos_id is None  # its tokenizer adds nothing: we add <|endoftext|>
    assert smollm.backend.id_to_token(start_token(smollm)) == "<|endoftext|>"
