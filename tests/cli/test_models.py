"""`ner-jax models`: every named model with its tap, width and install command."""

from __future__ import annotations

from support.cli import run_cli

from ner_jax.model.registry import NAMED_MODELS


def test_models_command_lists_named_models():
    result = run_cli("models")
    assert result.returncode == 0, result.stderr
    for named in NAMED_MODELS.values():
        line = next(x for x in result.stdout.splitlines() if x.startswith(named.name))
        tap = f"  {named.tap_component}@{named.tap_block}  "
        assert tap in line and f"  {named.tap_width}  " in line
        assert named.install_command in line


def test_llama31_8b_says_where_its_weights_come_from(monkeypatch, tmp_path):
    monkeypatch.delenv("NER_JAX_LLAMA31_8B", raising=False)
    line = next(x for x in run_cli("models").stdout.splitlines() if x.startswith("llama3.1-8b"))
    assert line.split()[1] == "no" and "not on PyPI: NER_JAX_LLAMA31_8B=" in line
    (tmp_path / "config.json").write_text("{}")  # set, and there: installed
    monkeypatch.setenv("NER_JAX_LLAMA31_8B", str(tmp_path))
    line = next(x for x in run_cli("models").stdout.splitlines() if x.startswith("llama3.1-8b"))
    assert "yes ($NER_JAX_LLAMA31_8B)" in line
