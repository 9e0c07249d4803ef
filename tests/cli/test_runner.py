"""Each command and launcher: its own flags in --help, and stray arguments refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


# Each command's help must list some of its own flags (and no other command's).
OWN_FLAGS = {
    "search": ("--index=TEXT  (required)", "--k=INT  (default: 10)", "--[no]json"),
    "index": ("--input=TEXT  (repeatable; required)", "--backend={auto|exact|scann}"),
    "evaluate": ("--data=TEXT", "--systems=A,B,...", "--spans={gold|detected}", "--head=TEXT"),
    "probe": ("--components=A,B,...", "--pairs=INT  (default: 200000)", "--out=TEXT"),
    "demo": ("--queries=A,B,...", "--detector=TEXT", "--index=TEXT"),
    "models": ("no flags",),
}


# What absl's --help and --helpfull show instead: absl's, JAX's and Orbax's own flags.
NOT_OURS = ("--jax_", "--xla", "helpfull", "--logtostderr", "--verbosity", "orbax", "--pdb")


@pytest.mark.parametrize("command", list(OWN_FLAGS))
def test_command_help_lists_its_own_flags(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert out.startswith(f"usage: ner-jax {command} [--flags]")
    for expected in OWN_FLAGS[command]:
        assert expected in out, out
    for other in NOT_OURS:
        assert other not in out, out
    if command == "search":  # the description is its positional argument; index has --input
        assert "DESCRIPTION..." in out.splitlines()[0] and "--input" not in out
        assert "documents to return" in out  # each flag's help
    if command == "models":
        assert "--index" not in out


def test_short_help_is_the_same():
    assert run_cli("search", "-h").stdout == run_cli("search", "--help").stdout


@pytest.mark.parametrize("args", [("models",), ("probe", "--data", "x", "--out", "y")])
def test_command_refuses_a_stray_argument(args):
    result = run_cli(*args, "stray-word")
    assert result.returncode == 2
    assert f"ner-jax {args[0]}: unexpected argument 'stray-word'" in result.stderr


def launch(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args], capture_output=True, text=True, timeout=300
    )


def test_launcher_refuses_a_stray_argument_and_has_help(tmp_path):
    workdir = tmp_path / "workdir"
    result = launch("experiments/train_head.py", "--config=tiny", f"--workdir={workdir}", "stray")
    assert result.returncode == 2
    assert "train_head.py: unexpected argument 'stray'" in result.stderr
    assert not workdir.exists()  # refused before anything ran
    shown = launch("experiments/train_head.py", "--help")
    assert shown.returncode == 0 and "--set=A,B,..." in shown.stdout
    assert "--config=TEXT  (required)" in shown.stdout and "--xla" not in shown.stdout
