"""The paper's released head imported as ours: the same outputs as torch's MLP, and its record."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from support.shared_data import require_paper
from support.tiny_models import tiny_checkpoint

from ner_jax.head import PAPER, default_head, head_file, import_paper_head, load_head
from ner_jax.index.encoder import resolve_head
from ner_jax.model import ModelNotInstalled, load_model, resolve_tap
from ner_jax.model.config import LLAMA31_8B


def torch_outputs(state: dict, inputs: np.ndarray) -> np.ndarray:
    """The paper's module (Linear -> SiLU -> Dropout -> Linear), eval mode, L2-normalised."""
    hidden, width = state["net.0.weight"].shape
    mlp = torch.nn.Module()
    mlp.net = torch.nn.Sequential(
        torch.nn.Linear(width, hidden),
        torch.nn.SiLU(),
        torch.nn.Dropout(0.1),
        torch.nn.Linear(hidden, state["net.3.weight"].shape[0]),
    )
    mlp.load_state_dict(state)
    with torch.no_grad():
        out = mlp.eval().net(torch.from_numpy(inputs))
    return torch.nn.functional.normalize(out, dim=-1).numpy()


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NER_JAX_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NER_JAX_LLAMA31_8B", raising=False)
    return tmp_path


def test_released_head_equals_torch_mlp(cache):
    pth = require_paper("the released head's import cannot be checked") / (
        "contrastive_projection_head.pth"
    )
    path = import_paper_head(pth, "llama3.1-8b", None, "v@17")
    head = load_head(path)
    # v_proj outputs are not unit vectors, and the paper's head reads them as they are.
    inputs = np.random.default_rng(0).normal(0, 0.7, (64, 1024)).astype(np.float32)
    state = torch.load(pth, map_location="cpu")
    np.testing.assert_allclose(head.project(inputs), torch_outputs(state, inputs), atol=1e-6)
    record = head.record
    assert record["source_sha256"] == hashlib.sha256(pth.read_bytes()).hexdigest()
    assert record["source_sha256"].startswith("51a741d9")
    assert (record["taps"], record["query_template"], record["unit_taps"]) == (
        ["v@17"],
        "{}",
        False,
    )
    assert record["licence"].startswith("MIT") and "ShacharOr100/ner_retriever" in record["origin"]
    assert not head.spec.unit_taps and head.model == "llama3.1-8b"


def test_llama31_8b_resolves_its_tap_and_head_without_weights(cache):
    tap = resolve_tap("llama3.1-8b")
    assert (tap.block, tap.component, tap.config) == (17, "v", LLAMA31_8B)
    assert tap.config.component_width("v") == 1024
    assert default_head("llama3.1-8b") is None
    with pytest.raises(FileNotFoundError, match="ner-jax import-head"):
        head_file("llama3.1-8b", PAPER)
    layout = {"net.0.weight": (500, 1024), "net.0.bias": (500,)}
    layout |= {"net.3.weight": (500, 500), "net.3.bias": (500,)}
    state = {k: torch.randn(shape) for k, shape in layout.items()}
    torch.save(state, cache / "head.pth")
    imported = import_paper_head(cache / "head.pth", "llama3.1-8b", None, "v@17")
    assert default_head("llama3.1-8b") == imported == head_file("llama3.1-8b", PAPER)
    assert resolve_head("llama3.1-8b", None) == imported
    with pytest.raises(ModelNotInstalled, match="NER_JAX_LLAMA31_8B"):
        load_model("llama3.1-8b")


def test_tiny_head_of_the_paper_layout_and_bad_files(cache):
    model = str(tiny_checkpoint(cache / "model"))
    width = resolve_tap(model, 1, "v").config.value_width
    state = {"net.0.weight": torch.randn(7, width), "net.0.bias": torch.randn(7)}
    state |= {"net.3.weight": torch.randn(5, 7), "net.3.bias": torch.randn(5)}
    torch.save(state, cache / "tiny.pth")
    head = load_head(import_paper_head(cache / "tiny.pth", model, cache / "tiny", "v@1"))
    inputs = np.random.default_rng(1).normal(size=(9, width)).astype(np.float32)
    np.testing.assert_allclose(head.project(inputs), torch_outputs(state, inputs), atol=1e-6)
    imported = import_paper_head(cache / "tiny.pth", model, None, "v@1")
    assert head_file(model, PAPER) == imported and load_head(imported).model == model
    with pytest.raises(
        ValueError, match=r"tiny.pth: the head reads \d+-d inputs, but attn@1 of .* is \d+-d"
    ):
        import_paper_head(cache / "tiny.pth", model, None, "attn@1")
    torch.save({"fc.weight": torch.zeros(2, 2)}, cache / "other.pth")
    with pytest.raises(ValueError, match="other.pth: expected the paper head's keys"):
        import_paper_head(cache / "other.pth", model, None, "v@1")
