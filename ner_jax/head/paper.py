"""The paper authors' released head (a PyTorch state dict) imported as one of our head files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ner_jax.files import read_state_dict
from ner_jax.head.file import save_head, shipped_head, weights_path
from ner_jax.model import NAMED_MODELS, cache_root, parse_tap, resolve_tap

PAPER = "paper"  # `--head paper`: the paper head imported for the model
# torch.nn.Sequential(Linear, SiLU, Dropout, Linear): the two Linear layers' indices.
_LAYERS = {"fc1": "net.0", "fc2": "net.3"}
PAPER_ORIGIN = {
    "origin": "NER Retriever (Shachar, Katz, Goldberg, Glickman, Findings of EMNLP 2025), "
    "github.com/ShacharOr100/ner_retriever commit 0ae76bed9ddf24d4503ddf8db61c2eaafd030261, "
    "contrastive_projection_head.pth",
    "licence": "MIT, copyright 2025 Or Shachar",
}
# The paper's query policy: the bare description after BOS, read at its last token.
PAPER_QUERY_TEMPLATE = "{}"


def imported_head_path(model: str) -> Path:
    """Where `ner-jax import-head` puts the paper head for a model by default (in the cache)."""
    if model in NAMED_MODELS:
        return cache_root() / "heads" / f"{model}-{PAPER}.safetensors"
    key = str(Path(model).expanduser().resolve())
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache_root() / "heads" / f"{Path(key).stem}-{digest}-{PAPER}.safetensors"


def default_head(model: str) -> Path | None:
    """The head shipped for a model, else the paper head imported for it, if either exists."""
    imported = imported_head_path(model)
    return shipped_head(model) or (imported if imported.is_file() else None)


def head_file(model: str, head: str | Path) -> Path:
    """A head given by path, or `paper` for the paper head imported for `model`."""
    if str(head) != PAPER:
        return weights_path(head)
    path = imported_head_path(model)
    if not path.is_file():
        raise FileNotFoundError(
            f"no paper head imported for model {model!r} (looked for {path}): run "
            f"`ner-jax import-head contrastive_projection_head.pth --model {model}`"
        )
    return path


def paper_params(state: dict[str, np.ndarray], source: Path) -> dict:
    """{fc1, fc2: {kernel [in, out], bias [out]}} from the state dict's net.0 and net.3."""
    expected = {f"{name}.{kind}" for name in _LAYERS.values() for kind in ("weight", "bias")}
    if set(state) != expected:
        raise ValueError(
            f"{source}: expected the paper head's keys {sorted(expected)}, found {sorted(state)}"
        )
    params = {}
    for ours, theirs in _LAYERS.items():
        weight, bias = state[f"{theirs}.weight"], state[f"{theirs}.bias"]
        if weight.ndim != 2 or bias.shape != weight.shape[:1]:
            raise ValueError(
                f"{source}: {theirs}.weight {weight.shape} and .bias {bias.shape} do not "
                "form a Linear layer"
            )
        # torch's Linear stores [out, in]; flax's Dense kernel is [in, out].
        params[ours] = {
            "kernel": np.ascontiguousarray(weight.T, np.float32),
            "bias": bias.astype(np.float32),
        }
    if params["fc1"]["kernel"].shape[1] != params["fc2"]["kernel"].shape[0]:
        raise ValueError(f"{source}: net.0's outputs do not match net.3's inputs")
    return params


def import_paper_head(pth: str | Path, model: str, out: str | Path | None, tap: str) -> Path:
    """Write the paper's `.pth` head as our head file (default: imported_head_path(model))
    reading `tap` of `model`, with a record of its origin, sha256, licence and query policy."""
    pth = Path(pth)
    params = paper_params(read_state_dict(pth), pth)
    fc1, fc2 = params["fc1"]["kernel"], params["fc2"]["kernel"]
    component, block = parse_tap(tap)
    width = resolve_tap(model, block, component).config.component_width(component)
    if width != fc1.shape[0]:
        raise ValueError(
            f"{pth}: the head reads {fc1.shape[0]}-d inputs, but {tap} of {model} is {width}-d"
        )
    is_named = model in NAMED_MODELS
    record = {
        "model": model if is_named else str(Path(model).expanduser().resolve()),
        "taps": [tap],
        "sentence_end": False,
        "unit_taps": False,  # the paper's MLP reads v_proj outputs as they are
        "hidden": int(fc1.shape[1]),
        "out": int(fc2.shape[1]),
        "dropout": 0.1,
        "query_template": PAPER_QUERY_TEMPLATE,
        "query_policy": "the bare description after the tokenizer's BOS, read at its last token",
        "variant": PAPER,
        "input_width": int(fc1.shape[0]),
        **PAPER_ORIGIN,
        "source_file": pth.name,
        "source_sha256": hashlib.sha256(pth.read_bytes()).hexdigest(),
    }
    target = weights_path(out) if out else imported_head_path(model)
    return save_head(target, params, record)
