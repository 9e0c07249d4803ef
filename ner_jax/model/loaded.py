"""`load_model`: a decoder truncated at its tap, with weights and tokenizer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ner_jax.model import hf_checkpoint
from ner_jax.model.config import DecoderConfig
from ner_jax.model.decoder import Decoder
from ner_jax.model.registry import DEFAULT_MODEL, checkpoint_dir
from ner_jax.model.taps import resolve_tap
from ner_jax.model.tokenizer import Tokenizer

DTYPES = ("auto", "float32", "bfloat16")


def resolve_dtype(dtype: str) -> str:
    """The compute dtype `dtype` names: `auto` is bfloat16 on GPU and TPU, float32 on CPU.

    Accelerators run bf16 natively, and bf16 keeps the benchmark scores (docs/performance.md).
    CPUs stay in fp32, where the parity guarantees hold: bf16 pays only on CPUs with bf16
    matrix units, and there `--dtype bfloat16` is the user's choice (docs/accelerators.md)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if dtype == "auto":
        return "bfloat16" if jax.default_backend() in ("gpu", "tpu") else "float32"
    return dtype


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """A truncated decoder with weights and tokenizer, ready to encode text."""

    name: str
    config: DecoderConfig
    params: dict
    tokenizer: Tokenizer
    tap_block: int
    component: str = "v"  # the activation read at the tap (see decoder.COMPONENTS)

    @property
    def dtype(self) -> str:
        return str(self.params["embed_tokens"]["embedding"].dtype)

    def decoder(self, collect: Sequence[str] = ("v",), all_blocks: bool = False) -> Decoder:
        return Decoder(
            self.config,
            num_blocks=self.tap_block + 1,
            collect=tuple(collect),
            collect_all_blocks=all_blocks,
            dtype=jnp.dtype(self.dtype),
        )


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    tap_block: int | None = None,
    dtype: str = "auto",
    component: str | None = None,
) -> LoadedModel:
    """Load a named model, an HF checkpoint directory or a GGUF file, up to its tap (see
    resolve_tap for the defaults)."""
    dtype = resolve_dtype(dtype)
    tap = resolve_tap(name_or_path, tap_block, component)
    directory = checkpoint_dir(name_or_path)
    _, params = hf_checkpoint.load_params(directory, tap.block + 1, jnp.dtype(dtype))
    tokenizer_file = directory / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise FileNotFoundError(f"{directory}: no tokenizer.json")
    return LoadedModel(
        name=name_or_path,
        config=tap.config,
        params=params,
        tokenizer=Tokenizer.from_file(tokenizer_file),
        tap_block=tap.block,
        component=tap.component,
    )


def output_params(name_or_path: str = DEFAULT_MODEL) -> tuple[np.ndarray, np.ndarray | None]:
    """(final norm weight [D], LM head [V, D] or None where it is the embedding) of a named
    model, a checkpoint directory or a GGUF file."""
    return hf_checkpoint.load_output(checkpoint_dir(name_or_path))
