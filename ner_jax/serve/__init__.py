"""A long-running search service of an index: JSON API, search page, micro-batched queries."""

from ner_jax.serve.batcher import MicroBatcher, Overloaded, Request
from ner_jax.serve.page import render_page
from ner_jax.serve.server import (
    MAX_K,
    BadRequest,
    SearchServer,
    ServeConfig,
    search_params,
    serve,
    warm_up,
)

__all__ = [
    "MAX_K",
    "BadRequest",
    "MicroBatcher",
    "Overloaded",
    "Request",
    "SearchServer",
    "ServeConfig",
    "render_page",
    "search_params",
    "serve",
    "warm_up",
]
