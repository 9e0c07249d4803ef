"""The top-level command line: usage, unknown commands, --version."""

from __future__ import annotations

from support.cli import run_cli

import ner_jax


def test_usage_and_unknown_command():
    assert run_cli().returncode == 1
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "unknown command 'frobnicate'" in result.stderr
    assert "models" in run_cli("--help").stdout


def test_version():
    for option in ("--version", "-V"):
        result = run_cli(option)
        assert result.returncode == 0 and result.stdout == f"ner-jax {ner_jax.__version__}\n"
    assert "--version" in run_cli("--help").stdout
