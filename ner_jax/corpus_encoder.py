"""The encoder of a corpus index: model + head + context length, recorded in `encoder.json`."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import logging

from ner_jax import atomic
from ner_jax.corpus_docs import Document
from ner_jax.features import FeatureExtractor
from ner_jax.head_file import Head, load_head, shipped_head, weights_path
from ner_jax.head_inputs import mention_inputs, query_inputs
from ner_jax.models import NAMED_MODELS, load_model
from ner_jax.windows import plan_windows

# What must agree between an index and the encoder that queries or extends it.
IDENTITY = ("model", "model_version", "taps", "sentence_end", "head_sha256", "dtype")


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
    """sha256 of a head's weights file."""
    return hashlib.sha256(weights_path(path).read_bytes()).hexdigest()


def resolve_head(model: str, head: str | Path | None) -> Path:
    """The head file given, else the one shipped for the model."""
    if head is not None:
        return weights_path(head)
    shipped = shipped_head(model)
    if shipped is None:
        raise FileNotFoundError(f"no head ships for model {model!r}: give a head file (--head)")
    return shipped


def describe(record: dict) -> str:
    """For messages: model, head sha256 prefix, variant, taps read, dtype."""
    taps = ",".join(record["taps"]) + ("+end" if record["sentence_end"] else "")
    version = f" {record['model_version']}" if record["model_version"] else ""
    return (
        f"model {record['model']!r}{version}, head sha256 {record['head_sha256'][:12]} "
        f"(variant {record['head_variant']}, reads {taps}, {record['dtype']})"
    )


def check_same(index: dict, encoder: dict, directory) -> None:
    """Raises EncoderMismatch naming both encoders unless they agree on IDENTITY."""
    if any(index[key] != encoder[key] for key in IDENTITY):
        raise _mismatch(index, directory, f"this encoder is {describe(encoder)}")


def _mismatch(index: dict, directory, other: str) -> EncoderMismatch:
    return EncoderMismatch(
        f"index {directory} was built with {describe(index)}, but {other}: the vectors would "
        "not be comparable. Use the index's own model and head (the defaults), or build a new "
        "index with this encoder."
    )


def open_encoder(
    record: dict, directory, model: str | None = None, head: str | Path | None = None
) -> CorpusEncoder:
    """The encoder an index's record names (model loaded up to the head's last block).

    A model or head given must be the recorded one; the recorded head is looked for at its
    recorded path, then among the shipped heads, and must still have the recorded sha256."""
    model = record["model"] if model is None else model
    if head is None:
        candidates = [Path(record["head_path"]), shipped_head(record["model"])]
        good = [
            p for p in candidates if p and p.is_file() and head_digest(p) == record["head_sha256"]
        ]
        if not good:
            path = Path(record["head_path"])
            now = f"now has sha256 {head_digest(path)[:12]}" if path.is_file() else "is missing"
            raise EncoderMismatch(
                f"index {directory} was built with {describe(record)} from {path}, which {now}: "
                "give the original head file (--head) or rebuild the index"
            )
        head = good[0]
    found = head_digest(head)
    if (model_key(model), found) != (record["model"], record["head_sha256"]):
        asked = f"model {model_key(model)!r}, head {weights_path(head)} (sha256 {found[:12]})"
        raise _mismatch(record, directory, f"the encoder asked for is {asked}")
    encoder = CorpusEncoder.load(
        model, head, record["max_tokens"], record["dtype"], record["query_template"]
    )
    check_same(record, encoder.record, directory)
    return encoder


@dataclasses.dataclass(frozen=True)
class Encoded:
    """Mention vectors of a list of documents, in (document, start, end) order."""

    vectors: np.ndarray  # [M, D] float32 unit rows
    doc: np.ndarray  # [M] int64 index into the documents encoded
    start: np.ndarray  # [M] int64 character offsets into the document's text
    end: np.ndarray  # [M] int64
    dropped: int  # mentions that could not be read (no token of their own, longer than a window)

    def save(self, path: Path) -> None:
        atomic.save_npz(path, **dataclasses.asdict(self))

    @classmethod
    def load(cls, path: Path) -> Encoded:
        with np.load(path) as saved:
            return cls(
                *(saved[k] for k in ("vectors", "doc", "start", "end")), int(saved["dropped"])
            )

    @classmethod
    def concat(cls, parts: Sequence[Encoded], dim: int) -> Encoded:
        """One Encoded of all parts' rows, in order (empty parts, or none, are fine)."""
        empty = cls.empty(dim, 0)
        return cls(
            *(
                np.concatenate([getattr(empty, k)] + [getattr(p, k) for p in parts])
                for k in ("vectors", "doc", "start", "end")
            ),
            sum(p.dropped for p in parts),
        )

    @classmethod
    def empty(cls, dim: int, dropped: int) -> Encoded:
        none = np.zeros(0, np.int64)
        return cls(np.zeros((0, dim), np.float32), none, none, none, dropped)


class CorpusEncoder:
    """Encodes documents' mentions and type descriptions into the head's space."""

    def __init__(self, extractor: FeatureExtractor, head: Head, record: dict):
        self.extractor, self.head, self.record = extractor, head, record
        _, offsets = extractor.encode(["a"])
        specials = int(((offsets[0][:, 0] == 0) & (offsets[0][:, 1] == 0)).sum())
        self.max_real = extractor.max_tokens - specials  # BOS/start tokens take context too

    @classmethod
    def load(
        cls,
        model: str,
        head: str | Path | None = None,
        max_tokens: int = 512,
        dtype: str = "float32",
        query_template: str | None = None,
    ) -> CorpusEncoder:
        """Loads the model up to the last block the head reads (default head: the shipped one)."""
        path = resolve_head(model, head)
        loaded_head = load_head(path)
        if model_key(loaded_head.model) != model_key(model):
            raise EncoderMismatch(
                f"head {path} reads {loaded_head.model!r}; the model is {model!r}"
            )
        spec = loaded_head.spec
        loaded = load_model(model, max(spec.blocks), dtype)
        extractor = FeatureExtractor(loaded, spec.components, spec.blocks, max_tokens)
        record = {
            "model": model_key(model),
            "model_version": model_version(model),
            "taps": list(spec.taps),
            "sentence_end": spec.sentence_end,
            "head_path": str(path.resolve()),
            "head_sha256": head_digest(path),
            "head_variant": loaded_head.record.get("variant", "trained"),
            "query_template": query_template or loaded_head.query_template,
            "max_tokens": max_tokens,
            "dtype": dtype,
            "dim": loaded_head.out_width,
        }
        return cls(extractor, loaded_head, record)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """[Q, D] unit vectors of type descriptions."""
        spec, template = self.head.spec, self.record["query_template"]
        return self.head.project(query_inputs(self.extractor, texts, spec, template))

    def documents(self, documents: Sequence[Document]) -> Encoded:
        """Every mention of the documents, each read once (see windows.plan_windows)."""
        _, offsets = self.extractor.encode([d.text for d in documents])
        texts, spans, origin, dropped = [], [], [], 0
        for d, (document, doc_offsets) in enumerate(zip(documents, offsets, strict=True)):
            windows, lost = plan_windows(document.text, doc_offsets, document.spans, self.max_real)
            if lost:
                logging.warning(
                    "%s: %d mention(s) not indexed: no token of their own, or longer than a window",
                    document.id,
                    len(lost),
                )
            dropped += len(lost)
            for w in windows:
                texts.append(document.text[w.start : w.end])
                spans.append([(a - w.start, b - w.start) for a, b in _at(document, w.mentions)])
                origin += [(d, a, b) for a, b in _at(document, w.mentions)]
        if not origin:
            return Encoded.empty(self.record["dim"], dropped)
        inputs, kept = mention_inputs(self.extractor, texts, spans, self.head.spec)
        dropped += int((~kept).sum())
        if not kept.all():
            logging.warning("%d mention(s) fell outside their window's encoding", (~kept).sum())
        if not kept.any():
            return Encoded.empty(self.record["dim"], dropped)
        vectors = np.asarray(self.head.project(inputs[kept]), np.float32)  # [M, D]
        origin = np.array(origin, np.int64)[kept]  # [M, 3]
        # Windows can take mentions out of order (a long one gets its own): back to text order.
        order = np.lexsort((origin[:, 2], origin[:, 1], origin[:, 0]))
        origin, vectors = origin[order], vectors[order]
        return Encoded(vectors, origin[:, 0], origin[:, 1], origin[:, 2], dropped)


def _at(document: Document, indices: Sequence[int]) -> list[tuple[int, int]]:
    return [document.spans[i] for i in indices]
