"""The head shipped in the package: complete, for the default model, and true to its record."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from ner_jax.head_file import load_head, shipped_head
from ner_jax.models import DEFAULT_MODEL

DATA = Path(os.environ.get("NER_JAX_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def test_a_head_ships_for_the_default_model():
    path = shipped_head(DEFAULT_MODEL)
    assert path is not None, f"no head in ner_jax/heads/ for {DEFAULT_MODEL}"
    head = load_head(path)
    assert head.model == DEFAULT_MODEL and head.record["variant"] == "shipped"
    width = head.params["fc1"]["kernel"].shape[0]
    x = np.random.default_rng(0).normal(size=(3, width)).astype(np.float32)
    out = head.project(x)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    train = head.record["data"]["train"]
    assert train["mentions"] == sum(train["types"].values())
    assert train["mentions"] == sum(f["mentions"] for f in train["files"].values())
    # Trained on every training file of both protocols, never on a selection file.
    files = set(train["files"])
    assert any("en-train90" in f for f in files) and any("en-train10" in f for f in files)
    assert sum("crossner" in f for f in files) == 10
    assert not files & set(head.record["data"]["select"]["files"])
    # Reduced to 384 dims, fitted on training splits only (never a dev or test file).
    assert head.out_width == head.record["dims"] == 384 and out.shape == (3, 384)
    fitted = head.record["projection"]["files"]
    assert fitted and all("train" in Path(f).name for f in fitted)
    projection = head.projection
    np.testing.assert_allclose(projection.T @ projection, np.eye(384), atol=1e-5)


def test_shipped_record_matches_the_data_files():
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is absent (set NER_JAX_DATA), so the record cannot be checked")
    record = load_head(shipped_head(DEFAULT_MODEL)).record
    for name, digest in {**record["data"]["sha256"], **record["projection"]["sha256"]}.items():
        relative = name.split("shared/data/", 1)[-1]
        path = DATA / relative
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, path
