"""Small weight files: {layer: {name: array}} as safetensors beside a JSON record, and the
weights that ship with the package (`ner_jax/assets`)."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file, save_file

from ner_jax.files import atomic

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def shipped_weights(kind: str, model: str) -> Path | None:
    """`assets/KIND/MODEL.safetensors` (kind: "heads" or "detectors"), if the package ships it."""
    path = ASSETS / kind / f"{model}.safetensors"
    return path if path.is_file() else None


def save_params(weights: Path, params: dict, record: dict) -> Path:
    """{layer: {name: array}} as `layer.name` tensors in `weights` (.safetensors), and the
    record beside it (.json), each written atomically."""
    weights.parent.mkdir(parents=True, exist_ok=True)
    flat = {
        f"{layer}.{name}": np.asarray(value, np.float32)
        for layer, tensors in params.items()
        for name, value in tensors.items()
    }
    atomic.write_with(weights, lambda tmp: save_file(flat, str(tmp)), suffix=".safetensors")
    atomic.write_text(weights.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    return weights


def load_params(
    weights: Path,
    what: str,
    needed: set[str],
    layers: set[str],
    optional: frozenset | set = frozenset(),
) -> tuple[dict, dict]:
    """(params, record) written by save_params, with all of `layers` and any of `optional`;
    errors name the file and what is missing."""
    record_path = weights.with_suffix(".json")
    for path in (weights, record_path):
        if not path.is_file():
            raise FileNotFoundError(f"{what} file not found: {path}")
    record = json.loads(record_path.read_text())
    missing = needed - set(record)
    if missing:
        raise ValueError(f"{record_path}: record lacks {sorted(missing)}")
    params: dict = {}
    for name, value in load_file(str(weights)).items():
        layer, _, tensor = name.partition(".")
        params.setdefault(layer, {})[tensor] = jnp.asarray(value)
    if not layers <= set(params) <= layers | set(optional):
        expected = sorted(layers) + [f"{name} (optional)" for name in sorted(optional)]
        raise ValueError(f"{weights}: expected layers {expected}, found {sorted(params)}")
    return params, record
