"""A tiny model loaded up to block 2, shared by the feature tests."""

from __future__ import annotations

import pytest
from support.tiny_models import tiny_checkpoint

from ner_jax.model.loaded import load_model


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return load_model(str(tiny_checkpoint(tmp_path_factory.mktemp("tiny"))), tap_block=2)
