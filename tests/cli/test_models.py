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
