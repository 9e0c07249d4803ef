"""`ner-jax import-head`, then `evaluate --head paper`: the paper's recipe end to end, tiny."""

from __future__ import annotations

import json

import torch
from support.cli import run_cli

from ner_jax.model import resolve_tap


def test_import_head_then_evaluate_with_the_paper_head(eval_corpus, tmp_path, monkeypatch):
    root, model = eval_corpus  # a tiny Llama with Llama 3.1's rope scaling
    monkeypatch.setenv("NER_JAX_CACHE", str(tmp_path / "cache"))
    width = resolve_tap(model, 2, "v").config.value_width
    # The paper's layout (net.0 Linear, net.3 Linear) at the tiny model's width.
    state = {"net.0.weight": torch.randn(11, width), "net.0.bias": torch.randn(11)}
    state |= {"net.3.weight": torch.randn(6, 11), "net.3.bias": torch.randn(6)}
    torch.save(state, tmp_path / "head.pth")
    imported = run_cli("import-head", tmp_path / "head.pth", "--model", model, "--tap", "v@2")
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert f"reads v@2 of {model}, {width} -> 11 -> 6" in imported.stdout
    args = ["--data", root / "a.txt", "--model", model, "--systems", "head", "--head", "paper"]
    result = run_cli("evaluate", *args, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["systems"]) == {"head"}
    missing = run_cli("import-head", "--model", model)
    assert missing.returncode != 0 and "give one PyTorch state dict file" in missing.stderr
