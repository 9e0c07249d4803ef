"""A corpus index: documents in, mention vectors searched, documents with their mentions out."""

from ner_jax.index.build import IndexConfig, add_to_index, build_corpus_index
from ner_jax.index.distributed import DEFAULT_TIMEOUT, build_sharded_index, joined
from ner_jax.index.documents import FORMATS, Document, read_documents
from ner_jax.index.encoder import CorpusEncoder, Encoded, resolve_head
from ner_jax.index.record import EncoderMismatch, EncoderRecord, model_key
from ner_jax.index.retriever import Hit, MentionHit, Retriever
from ner_jax.index.sharded import is_sharded
from ner_jax.index.store import Store
from ner_jax.index.vectors import (
    BACKENDS,
    ScannConfig,
    VectorIndex,
    build_index,
    bytes_on_disk,
    load_index,
)

__all__ = [
    "BACKENDS",
    "CorpusEncoder",
    "DEFAULT_TIMEOUT",
    "Document",
    "Encoded",
    "EncoderMismatch",
    "EncoderRecord",
    "model_key",
    "FORMATS",
    "Hit",
    "IndexConfig",
    "MentionHit",
    "Retriever",
    "ScannConfig",
    "Store",
    "VectorIndex",
    "add_to_index",
    "build_corpus_index",
    "build_index",
    "build_sharded_index",
    "bytes_on_disk",
    "is_sharded",
    "joined",
    "load_index",
    "read_documents",
    "resolve_head",
]
