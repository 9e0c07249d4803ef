"""A detector trained on a tiny model, shared by the detector tests."""

from __future__ import annotations

import pytest
from support.tiny_models import tiny_checkpoint, tiny_detector


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("detector")
    model = str(tiny_checkpoint(root / "model"))
    return model, tiny_detector(root / "names", model)
