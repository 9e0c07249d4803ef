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
CONTEXT = "context"  # the optional layer holding the text mean's `centre` and `projection`


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
    def context_weight(self) -> float:
        """Weight of the text's cosine beside the mention's (0: no context part; add_context)."""
        return float(self.record.get("context", {}).get("weight", 0.0))

    @property
    def in_width(self) -> int:
        """Width of `project`'s inputs: the module's, then the context part's, if any."""
        width = self.params["fc1"]["kernel"].shape[0]
        return width + (len(self.params[CONTEXT]["centre"]) if self.context_weight else 0)

    @property
    def out_width(self) -> int:
        """Width of `project`'s output."""
        projection = self.projection
        width = self.mixed_width if projection is None else projection.shape[1]
        if self.context_weight:
            width += self.params[CONTEXT]["projection"].shape[1]
        return width

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
        re-normalised: fewer bytes per mention in an index, nearly the same cosines. With a
        context part (add_context) the text's mean follows: see `_project`."""
        raw_width = self.record["raw_width"] if self.raw_mix else 0
        inputs = jnp.asarray(inputs, jnp.float32)
        return np.asarray(
            _project(self.module, self.raw_mix, raw_width, self.context_weight, self.params, inputs)
        )


# All of it in one jit, none on numpy: a numpy (OpenBLAS) product leaves its threads spinning
# after it returns, and on a small machine they take the cores from the next decoder pass
# (docs/performance.md measures the slowdown on one query).
@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _project(module, raw_mix: float, raw_width: int, context_weight: float, params, inputs):
    """[N, in (+ context)] -> [N, out_width] unit vectors.

    With context weight w the output is [sqrt(1 - s) mention, sqrt(s) text], s = w / (1 + w),
    the context part its centred, reduced mean: the cosine of two such vectors is (mention cosine
    + w text cosine) / (1 + w). A document's mentions share its context part, so its best mention
    for a description is the same one, and its score gains w times its text's cosine: one
    vector search ranks by both (docs/head.md)."""
    if context_weight:
        context = params[CONTEXT]
        inputs, text = inputs[:, : -len(context["centre"])], inputs[:, -len(context["centre"]) :]
        text = l2_normalise((text - context["centre"]) @ context["projection"])
    out = unit_outputs(module, params, inputs)
    if raw_mix:
        raw = l2_normalise(inputs[:, :raw_width])
        out = jnp.concatenate([raw_mix**0.5 * raw, (1 - raw_mix) ** 0.5 * out], axis=1)
    if REDUCE in params:
        out = l2_normalise(out @ params[REDUCE]["projection"])
    if context_weight:
        share = context_weight / (1 + context_weight)
        out = jnp.concatenate([(1 - share) ** 0.5 * out, share**0.5 * text], axis=1)
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
    params, record = load_params(
        weights_path(path), "head", needed, {"fc1", "fc2"}, {REDUCE, CONTEXT}
    )
    module = ProjectionHead(
        record["hidden"], record["out"], record["dropout"], record.get("skip", 0.0)
    )
    context = record.get("context")
    weight = context.get("weight") if isinstance(context, dict) else None
    valid = context is None or (isinstance(weight, int | float) and weight > 0)
    if not valid or (context is not None) != (CONTEXT in params):
        raise ValueError(
            f"{weights_path(path)}: a context part needs both the record's `context` with a "
            f"positive `weight` and the {CONTEXT!r} layer; found record {context!r}, layers "
            f"{sorted(params)}"
        )
    spec = InputSpec(
        tuple(record["taps"]),
        record["sentence_end"],
        record.get("unit_taps", True),
        context is not None,
    )
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


def add_context(head: Head, means: np.ndarray, weight: float, dims: int, about: dict) -> Head:
    """The head with a context part (replacing any it has): each vector is followed by its
    text's mean tap, centred and reduced to `dims`, at `weight` (see `_project`). `means`
    [N, context width] are training texts' means (FeatureExtractor.token_means), whose mean is
    the centre and whose top principal directions the projection; `about` (what they were read
    from) goes into the record."""
    if weight <= 0:
        raise ValueError(f"context weight must be positive, got {weight}")
    head = without_context(head)
    width = head.in_width // (1 + head.spec.sentence_end)
    if means.ndim != 2 or means.shape[1] != width:
        raise ValueError(f"means have shape {means.shape}; the head's taps are {width} wide")
    centre = means.mean(axis=0)
    projection = fit_projection(means - centre, dims, sample=len(means))
    record = head.record | {
        "context": {
            **about,
            "weight": weight,
            "dims": dims,
            "texts": len(means),
            "kept_energy": kept_energy(means - centre, projection),
        }
    }
    layer = {"centre": jnp.asarray(centre, jnp.float32), "projection": jnp.asarray(projection)}
    spec = dataclasses.replace(head.spec, context=True)
    return dataclasses.replace(
        head, spec=spec, params={**head.params, CONTEXT: layer}, record=record
    )


def without_context(head: Head) -> Head:
    """The head without its context part (itself if it has none)."""
    if not head.context_weight:
        return head
    params = {k: v for k, v in head.params.items() if k != CONTEXT}
    record = {k: v for k, v in head.record.items() if k != "context"}
    spec = dataclasses.replace(head.spec, context=False)
    return dataclasses.replace(head, spec=spec, params=params, record=record)
