"""`ner-jax probe`: the chosen components probed, the best printed, the plot written."""

from __future__ import annotations

import json

from support.cli import run_cli


def test_probe_command_line(eval_corpus, tmp_path):
    root, model = eval_corpus
    result = run_cli(
        "probe",
        "--data",
        root / "a.txt",
        "--model",
        model,
        "--components",
        "v,resid_out",
        "--pairs",
        "200",
        "--out",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best: " in result.stdout and (tmp_path / "probe.png").is_file()
    table = json.loads((tmp_path / "probe.json").read_text())["table"]
    assert sorted(table) == ["resid_out", "v"]
