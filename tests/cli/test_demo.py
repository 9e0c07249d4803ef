"""`ner-jax demo`: the README's first command, end to end on the real model."""

from __future__ import annotations

import pytest
from support.cli import run_cli


@pytest.mark.real_weights
def test_demo_runs_end_to_end():
    """The README's first command: plain text through the shipped detector, head and index."""
    result = run_cli("demo", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "head: shipped, 384-d mention vectors" in out
    assert "detector: default, mention ends >= " in out
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
