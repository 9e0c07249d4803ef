"""A trained head on disk: weights (safetensors) beside a JSON record of how it was made."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import load_file, save_file

from ner_jax import atomic
from ner_jax.head import ProjectionHead, unit
from ner_jax.head_inputs import QUERY_TEMPLATE, InputSpec
from ner_jax.reduction import fit_projection, kept_energy

SHIPPED = Path(__file__).parent / "heads"  # heads that ship with the package, one per model
REDUCE = "reduce"  # the optional layer holding `projection`, [mixed width, dims]


@dataclasses.dataclass
class Head:
    """A head with what it reads (model, spec) and its record (data, config, metrics)."""

    model: str
    spec: InputSpec
    module: ProjectionHead
    params: dict
    record: dict

    @property
    def query_template(self) -> str:
        return self.record.get("query_template", QUERY_TEMPLATE)

    @property
    def raw_mix(self) -> float:
        return float(self.record.get("raw_mix", 0.0))

    @property
    def mixed_width(self) -> int:
        """Width of the head output, with the raw tap beside it if the record mixes it in."""
        return self.module.out + (self.record["raw_width"] if self.raw_mix else 0)

    @property
    def projection(self) -> jax.Array | None:
        """[mixed_width, dims] orthonormal columns the output is reduced by, if the head has one."""
        reduce = self.params.get(REDUCE)
        return None if reduce is None else reduce["projection"]

    @property
    def out_width(self) -> int:
        """Width of `project`'s output."""
        projection = self.projection
        return self.mixed_width if projection is None else projection.shape[1]

    def unreduced(self) -> Head:
        """This head without its projection (itself if it has none)."""
        if self.projection is None:
            return self
        params = {k: v for k, v in self.params.items() if k != REDUCE}
        record = {k: v for k, v in self.record.items() if k not in ("dims", "projection")}
        return dataclasses.replace(self, params=params, record=record)

    def project(self, inputs: np.ndarray) -> np.ndarray:
        """[N, in] head inputs -> [N, out_width] unit vectors (no dropout).

        With a `raw_mix` a > 0 in the record the output is [sqrt(a) unit(first tap),
        sqrt(1 - a) unit(head)], [N, raw_width + out]: its cosines are a * (raw tap cosine) +
        (1 - a) * (head cosine). Training teaches the head the training types; the raw tap keeps
        what it knows of the others (see the README's ablations). With a projection (see
        `add_projection`) that vector is then reduced to its top principal directions and
        re-normalised: fewer bytes per mention in an index, nearly the same cosines."""
        raw_width = self.record["raw_width"] if self.raw_mix else 0
        inputs = jnp.asarray(inputs, jnp.float32)
        return np.asarray(_project(self.module, self.raw_mix, raw_width, self.params, inputs))


# All of it in one jit, none on numpy: a numpy (OpenBLAS) product leaves its threads spinning
# after it returns, and on a small machine they take the cores from the next decoder pass
# (one query at a time: 47 ms forward alone, 76 ms after a [1, 1524] x [1524, 384] numpy product).
@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _project(module: ProjectionHead, raw_mix: float, raw_width: int, params: dict, inputs):
    out = unit(module.apply({"params": params}, inputs))
    if raw_mix:
        raw = unit(inputs[:, :raw_width])
        out = jnp.concatenate([raw_mix**0.5 * raw, (1 - raw_mix) ** 0.5 * out], axis=1)
    if REDUCE in params:
        out = unit(out @ params[REDUCE]["projection"])
    return out


def weights_path(path: str | Path) -> Path:
    """A head is named by its .safetensors file or by a directory holding head.safetensors."""
    path = Path(path)
    return path / "head.safetensors" if path.suffix != ".safetensors" else path


def save_head(path: str | Path, params: dict, record: dict) -> Path:
    """Write weights and record atomically; `record` must hold model, taps, sentence_end,
    hidden, out and dropout."""
    return save_params(weights_path(path), params, record)


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


def load_head(path: str | Path) -> Head:
    """Read a head written by save_head; errors name the file and what is missing."""
    needed = {"model", "taps", "sentence_end", "hidden", "out", "dropout"}
    params, record = load_params(weights_path(path), "head", needed, {"fc1", "fc2"}, {REDUCE})
    module = ProjectionHead(
        record["hidden"], record["out"], record["dropout"], record.get("skip", 0.0)
    )
    spec = InputSpec(tuple(record["taps"]), record["sentence_end"])
    return Head(record["model"], spec, module, params, record)


def shipped_head(model: str) -> Path | None:
    """The head shipped for a named model, if there is one."""
    path = SHIPPED / f"{model}.safetensors"
    return path if path.is_file() else None


def add_projection(head: Head, vectors: np.ndarray, dims: int, about: dict) -> Head:
    """The head with its output reduced to `dims` (replacing any projection it has): the top
    uncentred principal directions of `vectors` [N, mixed_width], its own unreduced outputs on
    training mentions. `about` (what the vectors were read from) goes into the record with the
    kept share of their energy."""
    head = head.unreduced()
    if vectors.shape[1] != head.mixed_width:
        raise ValueError(
            f"vectors have width {vectors.shape[1]}, the head outputs {head.mixed_width}"
        )
    projection = fit_projection(vectors, dims, sample=len(vectors))
    record = head.record | {
        "dims": dims,
        "projection": {
            **about,
            "mentions": len(vectors),
            "kept_energy": kept_energy(vectors, projection),
        },
    }
    params = {**head.params, REDUCE: {"projection": jnp.asarray(projection)}}
    return dataclasses.replace(head, params=params, record=record)
