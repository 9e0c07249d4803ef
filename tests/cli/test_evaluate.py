"""`ner-jax evaluate`: prints the report's summary, writes report.json, refuses unknown systems."""

from __future__ import annotations

import json

from support.cli import run_cli

from ner_jax.evaluation.run import summary


def test_evaluate_command_line(eval_corpus, tmp_path):
    root, model = eval_corpus
    args = ["evaluate", "--data", root / "a.txt", "--model", model, "--tap_block", "1"]
    result = run_cli(*args, "--systems", "bm25,raw", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| bm25 |" in result.stdout and (tmp_path / "report.json").is_file()
    report = json.loads((tmp_path / "report.json").read_text())
    assert result.stdout.startswith(summary(report) + "\n")
    bad = run_cli(*args, "--systems", "bm26", "--out", tmp_path / "x")
    assert bad.returncode != 0 and "unknown systems ['bm26']" in bad.stderr
    point = run_cli(*args, "--detector_threshold=-0.1", "--out", tmp_path / "y")
    assert point.returncode != 0
    assert "detector_threshold must be in [0, 1], got -0.1" in point.stderr
