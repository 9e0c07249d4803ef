"""A trained head on disk: weights (safetensors) beside a JSON record of how it was made."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ner_jax.features import QUERY_TEMPLATE, READINGS, InputSpec, l2_normalise
from ner_jax.files import load_params, save_params, shipped_weights
from ner_jax.head.projection import ProjectionHead, unit_outputs
from ner_jax.head.reduction import fit_projection, kept_energy

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
    def query_reading(self) -> dict[str, float]:
        """Where a description is read (features.READINGS) and each position's weight in its
        vector; heads without the field read the last token alone."""
        return dict(self.record.get("query_reading", {"last": 1.0}))

    def query_vectors(self, readings: np.ndarray) -> np.ndarray:
        """[len(query_reading), Q, in] inputs read at query_reading's positions (in its order;
        features.query_readings) -> [Q, out_width] unit vectors: each position's output, by
        its weight, summed and re-normalised."""
        weights = list(self.query_reading.values())
        if len(readings) != len(weights):
            raise ValueError(f"{len(readings)} readings for the {len(weights)} query positions")
        if len(weights) == 1:
            return self.project(readings[0])
        return l2_normalise(
            sum(w * self.project(x) for w, x in zip(weights, readings, strict=True))
        )

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
        what it knows of the others (see docs/head.md's ablations). With a projection (see
        `add_projection`) that vector is then reduced to its top principal directions and
        re-normalised: fewer bytes per mention in an index, nearly the same cosines."""
        raw_width = self.record["raw_width"] if self.raw_mix else 0
        inputs = jnp.asarray(inputs, jnp.float32)
        return np.asarray(_project(self.module, self.raw_mix, raw_width, self.params, inputs))


# All of it in one jit, none on numpy: a numpy (OpenBLAS) product leaves its threads spinning
# after it returns, and on a small machine they take the cores from the next decoder pass
# (docs/performance.md measures the slowdown on one query).
@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _project(module: ProjectionHead, raw_mix: float, raw_width: int, params: dict, inputs):
    out = unit_outputs(module, params, inputs)
    if raw_mix:
        raw = l2_normalise(inputs[:, :raw_width])
        out = jnp.concatenate([raw_mix**0.5 * raw, (1 - raw_mix) ** 0.5 * out], axis=1)
    if REDUCE in params:
        out = l2_normalise(out @ params[REDUCE]["projection"])
    return out


def weights_path(path: str | Path) -> Path:
    """A head is named by its .safetensors file or by a directory holding head.safetensors."""
    path = Path(path)
    return path / "head.safetensors" if path.suffix != ".safetensors" else path


def save_head(path: str | Path, params: dict, record: dict) -> Path:
    """Write weights and record atomically; `record` must hold model, taps, sentence_end,
    hidden, out and dropout."""
    return save_params(weights_path(path), params, record)


def load_head(path: str | Path) -> Head:
    """Read a head written by save_head; errors name the file and what is missing."""
    needed = {"model", "taps", "sentence_end", "hidden", "out", "dropout"}
    params, record = load_params(weights_path(path), "head", needed, {"fc1", "fc2"}, {REDUCE})
    module = ProjectionHead(
        record["hidden"], record["out"], record["dropout"], record.get("skip", 0.0)
    )
    spec = InputSpec(tuple(record["taps"]), record["sentence_end"], record.get("unit_taps", True))
    reading = record.get("query_reading", {"last": 1.0})
    if not (isinstance(reading, dict) and reading and set(reading) <= set(READINGS)) or not all(
        isinstance(w, int | float) and w > 0 for w in reading.values()
    ):
        raise ValueError(
            f"{weights_path(path)}: query_reading {reading!r} must give positive weights to "
            f"positions of {READINGS}"
        )
    return Head(record["model"], spec, module, params, record)


def shipped_head(model: str) -> Path | None:
    """The head shipped for a named model, if there is one."""
    return shipped_weights("heads", model)


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
