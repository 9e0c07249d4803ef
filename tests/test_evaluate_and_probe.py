"""`ner-jax evaluate` and `ner-jax probe` end to end on a tiny model and a tiny corpus."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli import run_cli
from tiny_models import WORDS, tiny_bert, tiny_checkpoint

from ner_jax.evaluate import EvaluateConfig, evaluate
from ner_jax.metrics import evaluate_rankings
from ner_jax.probe import ProbeConfig, probe

CORPUS_A = """the\tO
castle\tB-building
in\tO
edinburgh\tB-city

python\tB-language
and\tO
rust\tB-language

insulin\tB-protein
and\tO
keratin\tB-protein

the\tO
castle\tB-building
in\tO
edinburgh\tB-city
"""
CORPUS_B = """curie\tB-scientist
visited\tO
paris\tB-city

the\tO
palace\tB-building
in\tO
lisbon\tB-city
and\tO
ajax\tB-misc

the\tO
castle\tB-building
in\tO
edinburgh\tB-city
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    (root / "a.txt").write_text(CORPUS_A)
    (root / "b.txt").write_text(CORPUS_B)
    tiny_bert(root / "bert", WORDS[3:])
    return root, str(tiny_checkpoint(root / "model"))


def test_evaluate_writes_reports_that_rescore_from_the_rankings(setup):
    root, model = setup
    data = (str(root / "a.txt"), str(root / "b.txt"))
    config = EvaluateConfig(
        data=data,
        out=str(root / "out"),
        systems=("bm25", "minilm", "minilm_mentions", "raw"),
        model=model,
        tap_block=2,
        raw_taps=("1", "attn@2"),
        minilm=str(root / "bert"),
    )
    report = evaluate(config)
    corpus = report["corpus"]
    # 7 sentences, 2 duplicates of "the castle in edinburgh": 5 documents; misc is no query.
    assert corpus["documents"] == 5 and corpus["mentions"] == 11
    assert [q["type"] for q in corpus["queries"]] == [
        "building",
        "city",
        "language",
        "protein",
        "scientist",
    ]
    assert set(report["systems"]) == {
        "bm25",
        "minilm",
        "minilm_mentions",
        "raw",
        "raw-v1",
        "raw-attn2",
    }
    relevant = {q["type"]: q["relevant"] for q in corpus["queries"]}
    assert relevant == {"building": 2, "city": 3, "language": 1, "protein": 1, "scientist": 1}
    for name, result in report["systems"].items():
        lines = [json.loads(x) for x in (root / "out/rankings" / f"{name}.jsonl").open()]
        assert [x["type"] for x in lines] == list(relevant)
        ids = sorted({i for x in lines for i in x["ranking"]})
        assert set(ids) <= {
            f"{data[0]}:0",
            f"{data[0]}:1",
            f"{data[0]}:2",
            f"{data[1]}:0",
            f"{data[1]}:1",
        }  # the duplicates keep the id of the first one
        # Anyone can re-score: relevant ids from the labels, rankings from the files.
        gold = {
            "building": {f"{data[0]}:0", f"{data[1]}:1"},
            "city": {f"{data[0]}:0", f"{data[1]}:0", f"{data[1]}:1"},
            "language": {f"{data[0]}:1"},
            "protein": {f"{data[0]}:2"},
            "scientist": {f"{data[1]}:0"},
        }
        rescored = evaluate_rankings(
            [x["ranking"] for x in lines], [sorted(gold[x["type"]]) for x in lines]
        )
        assert rescored["r_precision"] == pytest.approx(result["r_precision"]), name
    assert "| raw | " in (root / "out/report.md").read_text()


def test_evaluate_command_line(setup, tmp_path):
    root, model = setup
    args = ["evaluate", "--data", root / "a.txt", "--model", model, "--tap_block", "1"]
    result = run_cli(*args, "--systems", "bm25,raw", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| bm25 |" in result.stdout and (tmp_path / "report.json").is_file()
    bad = run_cli(*args, "--systems", "bm26", "--out", tmp_path / "x")
    assert bad.returncode != 0 and "unknown systems ['bm26']" in bad.stderr


def test_probe_scores_every_block_and_component(setup):
    root, model = setup
    report = probe(
        ProbeConfig(
            data=(str(root / "a.txt"), str(root / "b.txt")),
            out=str(root / "probe"),
            model=model,
            pairs=500,
        )
    )
    assert set(report["table"]) == {"q", "k", "v", "attn", "mlp", "resid_in", "resid_out"}
    for rows in report["table"].values():
        assert [r["block"] for r in rows] == [0, 1, 2, 3]
        assert all(0 <= r["r_precision"] <= 1 and 0 <= r["pair_auc"] <= 1 for r in rows)
    assert (root / "probe/probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((root / "probe/probe.json").read_text())
    assert saved["best"] == report["best"]
    assert np.isclose(
        max(r["r_precision"] for rows in report["table"].values() for r in rows),
        report["best"]["r_precision"],
    )


def test_probe_command_line(setup, tmp_path):
    root, model = setup
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
