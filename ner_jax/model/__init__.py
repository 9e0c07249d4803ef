"""The Flax decoder, its checkpoints (transformers dirs, GGUF), tokenizer and named models."""

from ner_jax.model.config import DecoderConfig
from ner_jax.model.decoder import COMPONENTS, Decoder, RMSNorm
from ner_jax.model.loaded import DTYPES, LoadedModel, load_model, output_params, resolve_dtype
from ner_jax.model.params import hf_name, load_checked
from ner_jax.model.registry import (
    DEFAULT_MODEL,
    NAMED_MODELS,
    ModelNotInstalled,
    NamedModel,
    cache_root,
    checkpoint_dir,
)
from ner_jax.model.taps import Tap, parse_tap, resolve_tap
from ner_jax.model.tokenizer import Tokenizer

__all__ = [
    "COMPONENTS",
    "DTYPES",
    "DEFAULT_MODEL",
    "Decoder",
    "DecoderConfig",
    "LoadedModel",
    "ModelNotInstalled",
    "NAMED_MODELS",
    "NamedModel",
    "RMSNorm",
    "Tap",
    "Tokenizer",
    "cache_root",
    "checkpoint_dir",
    "hf_name",
    "load_checked",
    "load_model",
    "output_params",
    "parse_tap",
    "resolve_dtype",
    "resolve_tap",
]
