"""The Retriever of the markup index (tests/conftest.py), opened once for the server tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def retriever(markup_index):
    from ner_jax.index import Retriever

    with Retriever.load(markup_index[0]) as opened:
        yield opened
