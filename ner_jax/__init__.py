"""ner_jax: zero-shot named-entity retrieval in JAX/Flax (NER Retriever, Findings of EMNLP 2025).

The names a user needs, loaded on first use so that `import ner_jax` stays light:

    from ner_jax import IndexConfig, Retriever, build_corpus_index, read_documents
"""

from __future__ import annotations

import importlib
from importlib import metadata

try:
    __version__ = metadata.version("ner_jax")
except metadata.PackageNotFoundError:  # a source tree that was not installed
    __version__ = "unknown"

_EXPORTS = {
    "Document": "ner_jax.index",
    "IndexConfig": "ner_jax.index",
    "Retriever": "ner_jax.index",
    "add_to_index": "ner_jax.index",
    "build_corpus_index": "ner_jax.index",
    "read_documents": "ner_jax.index",
    "load_model": "ner_jax.model",
    "EvaluateConfig": "ner_jax.evaluation",
    "evaluate": "ner_jax.evaluation",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ner_jax' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
