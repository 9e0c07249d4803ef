"""probe: every block and component scored on a tiny model; roc_auc by hand."""

from __future__ import annotations

import json

import numpy as np

from ner_jax.evaluation.probing import ProbeConfig, probe


def test_probe_scores_every_block_and_component(eval_corpus):
    root, model = eval_corpus
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


def test_roc_auc_by_hand_with_ties():
    from ner_jax.evaluation.probing import roc_auc

    assert roc_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert roc_auc(np.array([1.0]), np.array([2.0])) == 0.0
    # Pairs: (2 vs 1) win, (2 vs 2) half, (0 vs 1) loss, (0 vs 2) loss -> 1.5 / 4.
    assert roc_auc(np.array([2.0, 0.0]), np.array([1.0, 2.0])) == 0.375
