"""An index's encoder record (`encoder.json`): what built its vectors, and when two are the same."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ner_jax.head import weights_path
from ner_jax.model import NAMED_MODELS

# Indexes written before mention detectors existed have no detector fields: they had none;
# those written before operating points existed decoded one Viterbi path (threshold None).
_ADDED_LATER = ("detector_path", "detector_sha256", "detector_variant", "detector_threshold")


class EncoderMismatch(ValueError):
    """An index queried or extended by an encoder other than the one that built it."""


def model_key(name_or_path: str) -> str:
    """A named model as named, a model path made absolute (so equal paths compare equal)."""
    return name_or_path if name_or_path in NAMED_MODELS else str(Path(name_or_path).resolve())


def model_version(name_or_path: str) -> str | None:
    """The installed package version of a named model (its weights change with it), else None."""
    named = NAMED_MODELS.get(name_or_path)
    return named.installed_version() if named else None


def head_digest(path: str | Path) -> str:
    """sha256 of a head's (or a detector's) weights file."""
    return hashlib.sha256(weights_path(path).read_bytes()).hexdigest()


def _incidental() -> Any:
    """A field that says where a file was found, or how it is labelled, not what it computes:
    left out of ==, so indexes whose files moved (or other hosts' shards) compare equal."""
    return dataclasses.field(compare=False)


@dataclasses.dataclass(frozen=True)
class EncoderRecord:
    """Model, head, detector and context an index was built with, in `encoder.json`'s order.

    `==` is "the same encoder", for an index and the encoder that queries or extends it as
    for the shards of one index: equal in every field that changes which mentions are indexed,
    their vectors or the queries'. Head and detector compare by the sha256 of their weights,
    not by where they were found or their variant labels.
    """

    model: str  # model_key
    model_version: str | None
    taps: tuple[str, ...]  # the head's ("COMPONENT@BLOCK")
    sentence_end: bool
    head_path: str = _incidental()
    head_sha256: str
    head_variant: str = _incidental()
    detector_path: str | None = _incidental()
    # The detector does not change query vectors, but documents added with another one would
    # be found unlike the rest.
    detector_sha256: str | None
    detector_variant: str | None = _incidental()
    # The operating point the detector ran at (None: Viterbi, or no detector). A detector's
    # sha256 covers its weights, not its record, where its own operating point is kept.
    detector_threshold: float | None
    query_template: str
    max_tokens: int
    dtype: str
    dim: int

    def to_json(self) -> dict[str, Any]:
        """The record as `encoder.json` holds it (keys in field order, taps a list)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**values, "taps": list(self.taps)}

    @classmethod
    def from_json(cls, values: Mapping[str, Any], source: str | Path) -> EncoderRecord:
        """A record read from `source` (for messages); older records lack the detector fields."""
        names = [f.name for f in dataclasses.fields(cls)]
        values = {**dict.fromkeys(_ADDED_LATER), **values}
        missing = [n for n in names if n not in values]
        unknown = [k for k in values if k not in names]
        if missing or unknown:
            raise ValueError(
                f"{source}: not an encoder record (missing {missing}, unknown {unknown}): "
                "written by another version of ner_jax?"
            )
        return cls(**{**values, "taps": tuple(values["taps"])})

    def differences(self, other: EncoderRecord) -> list[str]:
        """The names of the fields that make the two encoders differ (none when ==)."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if f.compare and getattr(self, f.name) != getattr(other, f.name)
        ]

    def describe(self) -> str:
        """For messages: model, head and detector sha256 prefixes, variant, taps read, dtype."""
        taps = ",".join(self.taps) + ("+end" if self.sentence_end else "")
        version = f" {self.model_version}" if self.model_version else ""
        found = self.detector_sha256
        detector = f"detector sha256 {found[:12]}" if found else "no detector"
        if found:
            point = self.detector_threshold
            detector += " (Viterbi)" if point is None else f" at threshold {point:g}"
        return (
            f"model {self.model!r}{version}, head sha256 {self.head_sha256[:12]} "
            f"(variant {self.head_variant}, reads {taps}, {self.dtype}), {detector}"
        )


def check_same(index: EncoderRecord, encoder: EncoderRecord, directory) -> None:
    """Raises EncoderMismatch naming both encoders and how they differ unless they are ==."""
    if index != encoder:
        differ = ", ".join(index.differences(encoder))
        raise mismatch(
            index, directory, f"this encoder is {encoder.describe()} (they differ in {differ})"
        )


def mismatch(index: EncoderRecord, directory, other: str) -> EncoderMismatch:
    """The error for an index at `directory` and an `other` encoder it cannot be used with."""
    return EncoderMismatch(
        f"index {directory} was built with {index.describe()}, but {other}: the vectors would "
        "not be comparable. Use the index's own model and head (the defaults), or build a new "
        "index with this encoder."
    )
