"""The train_head launcher: a tiny run, its resume to the same head, bad overrides refused."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.tiny_models import tiny_checkpoint

from ner_jax.data import best_mention_scores
from ner_jax.features import extractor_for
from ner_jax.head import Corpus, OptimConfig, TrainConfig, load_head, train_head
from ner_jax.head.mentions import load_mentions
from ner_jax.head.train import read_wordings_file

ROOT = Path(__file__).resolve().parents[2]


# Words of the tiny tokenizer (tests/tiny_models.WORDS), labelled in CrossNER's format.
TRAIN = """the\tO
castle\tB-location
in\tO
edinburgh\tB-location

curie\tB-person
visited\tO
paris\tB-location

python\tB-programlang
and\tO
rust\tB-programlang

insulin\tB-protein
and\tO
keratin\tB-protein
"""


DEV = """the\tO
palace\tB-location
in\tO
lisbon\tB-location

keratin\tB-protein
and\tO
insulin\tB-protein

curie\tB-person
and\tO
python\tB-programlang
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A data root shaped like ../shared/data (one CrossNER domain) and a tiny model."""
    root = tmp_path_factory.mktemp("data")
    (root / "crossner" / "ai").mkdir(parents=True)
    (root / "crossner" / "ai" / "train.txt").write_text(TRAIN)
    (root / "crossner" / "ai" / "dev.txt").write_text(DEV)
    (root / "queries").mkdir()
    words = {
        "location": "location",
        "person": "person",
        "programlang": "python",
        "protein": "insulin",
    }
    (root / "queries" / "crossner.json").write_text(json.dumps(words))
    return root, str(tiny_checkpoint(root / "model"))


def launch(data_root, model, workdir, *extra):
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "train_head.py"),
            "--config=tiny",
            f"--data={data_root}",
            f"--model={model}",
            f"--workdir={workdir}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )


def metrics(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_run_resumes_to_the_same_head_as_an_uninterrupted_run(data, tmp_path):
    root, model = data
    tiny = launch(root, model, tmp_path / "tiny")
    assert tiny.returncode == 0, tiny.stderr[-3000:]
    assert [m["step"] for m in metrics(tmp_path / "tiny")] == [1, 2]
    record = json.loads((tmp_path / "tiny" / "head.json").read_text())
    assert record["data"]["train"]["files"] == {
        f"{root}/crossner/ai/train.txt": {"documents": 4, "mentions": 8}
    }
    assert record["data"]["select"]["mentions"] == 6
    assert 0.0 <= record["metrics"]["select_r_precision"] <= 1.0
    stopped = launch(root, model, tmp_path / "resumed", "--set=steps=4", "--stop_after=2")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert not (tmp_path / "resumed" / "head.safetensors").exists()
    with (tmp_path / "resumed" / "metrics.jsonl").open("a") as f:  # written after the checkpoint
        f.write(json.dumps({"step": 3, "loss": 0.0}) + "\n")
    resumed = launch(root, model, tmp_path / "resumed", "--set=steps=4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [m["step"] for m in metrics(tmp_path / "resumed")] == [1, 2, 3, 4]
    straight = launch(root, model, tmp_path / "straight", "--set=steps=4")
    assert straight.returncode == 0, straight.stderr[-3000:]
    a, b = load_head(tmp_path / "resumed"), load_head(tmp_path / "straight")
    assert a.record["metrics"]["best_step"] == b.record["metrics"]["best_step"]
    for layer in ("fc1", "fc2"):
        for name in ("kernel", "bias"):
            np.testing.assert_array_equal(a.params[layer][name], b.params[layer][name])
    assert [m["loss"] for m in metrics(tmp_path / "resumed")] == [
        m["loss"] for m in metrics(tmp_path / "straight")
    ]


def test_launcher_rejects_an_unknown_override(data, tmp_path):
    root, model = data
    result = launch(root, model, tmp_path / "bad", "--set=stepz=3")
    assert result.returncode != 0 and "no field 'stepz'" in result.stderr


def test_leave_types_out_trains_without_the_held_out_types_and_selects_on_them(data, tmp_path):
    root, model = data
    files = (f"{root}/crossner/ai/train.txt", f"{root}/crossner/ai/dev.txt")
    wordings = tmp_path / "wordings.json"
    wordings.write_text(json.dumps({"location": ["location", "place"], "person": ["person"]}))
    corpora = (Corpus(files, f"{root}/queries/crossner.json"),)
    optim = OptimConfig(hidden=16, out=8, steps=6, eval_every=1, types_per_batch=2)
    config = TrainConfig(
        corpora,
        files[:1],
        files[1:],
        model=model,
        optim=dataclasses.replace(optim, mentions_per_type=4),
        wordings=str(wordings),
        held_out_types=("insulin",),
    )
    head = load_head(train_head(config, tmp_path / "lto", progress=False))
    data_record = head.record["data"]
    assert set(data_record["train"]["types"]) == {"location", "person", "python"}
    assert set(data_record["select"]["types"]) == {"insulin", "location", "person", "python"}
    assert data_record["select"]["scored_types"] == ["insulin"]
    assert data_record["selection"] == "types held out of training"
    assert data_record["wordings"]["location"] == ["location", "place"]
    assert data_record["wordings"]["python"] == ["python"]
    logged = metrics(tmp_path / "lto")
    assert [m["step"] for m in logged] == list(range(1, 7))
    best = max(logged, key=lambda m: m["select_r_precision"])  # the first of equal scores
    assert head.record["metrics"]["best_step"] == best["step"]
    # The selection score is the held-out type's alone, and the saved head is that step's.
    extractor = extractor_for(model, head.spec.taps)
    select = load_mentions(
        extractor, head.spec, corpora, files[1:], tmp_path / "lto" / "features", False
    )
    vectors, queries = head.project(select.inputs), head.project(select.anchors)
    insulin = select.type_names.index("insulin")
    docs = np.unique(select.docs, return_inverse=True)[1]
    ranked = np.argsort(-best_mention_scores(queries[insulin : insulin + 1] @ vectors.T, docs, 3))
    relevant = set(docs[select.types == insulin])
    expected = len(set(ranked[0, : len(relevant)]) & relevant) / len(relevant)
    assert head.record["metrics"]["select_r_precision"] == pytest.approx(expected, abs=1e-6)
    assert best["select_r_precision"] == pytest.approx(expected, abs=1e-6)


def test_wordings_files_are_checked(tmp_path):
    bad = tmp_path / "wordings.json"
    bad.write_text(json.dumps({"castle": ["fortress", "castle"]}))
    with pytest.raises(ValueError, match=r"wordings.json: 'castle''s list must start with"):
        read_wordings_file(str(bad))
    bad.write_text(json.dumps({"castle": []}))
    with pytest.raises(ValueError, match="needs a non-empty list of strings"):
        read_wordings_file(str(bad))
