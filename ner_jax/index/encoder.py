"""The encoder of a corpus index: model + head + detector + context, recorded in `encoder.json`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import logging

from ner_jax.detector import (
    NO_DETECTOR,
    Detector,
    detect_mentions,
    load_detector,
    resolve_detector,
    shipped_detector,
)
from ner_jax.features import FeatureExtractor, extractor_for, mention_inputs, query_readings
from ner_jax.files import atomic
from ner_jax.head import Head, default_head, head_file, load_head, weights_path
from ner_jax.index.documents import Document, MentionsNeeded
from ner_jax.index.record import (
    EncoderMismatch,
    EncoderRecord,
    check_same,
    head_digest,
    mismatch,
    model_key,
    model_version,
)
from ner_jax.index.windows import cover_windows, plan_windows
from ner_jax.model import resolve_dtype


def resolve_head(model: str, head: str | Path | None) -> Path:
    """The head file given (`paper`: the paper head imported for the model), else the one
    shipped for the model, else its imported paper head."""
    if head is not None:
        return head_file(model, head)
    found = default_head(model)
    if found is None:
        raise FileNotFoundError(f"no head ships for model {model!r}: give a head file (--head)")
    return found


def open_encoder(
    record: EncoderRecord, directory, model: str | None = None, head: str | Path | None = None
) -> CorpusEncoder:
    """The encoder an index's record names (model loaded up to the last block read).

    A model or head given must be the recorded one; the recorded head and detector are looked
    for at their recorded paths, then among the shipped files, and must still have the
    recorded sha256. The detector runs at the recorded operating point, whatever its file's
    record now says."""
    model = record.model if model is None else model
    if head is None:
        head = _recorded(record, directory, "head", default_head)
    else:
        head = head_file(model, head)
    detector = NO_DETECTOR
    if record.detector_sha256:
        detector = _recorded(record, directory, "detector", shipped_detector)
    found = head_digest(head)
    if (model_key(model), found) != (record.model, record.head_sha256):
        asked = f"model {model_key(model)!r}, head {weights_path(head)} (sha256 {found[:12]})"
        raise mismatch(record, directory, f"the encoder asked for is {asked}")
    encoder = CorpusEncoder.load(
        model,
        head,
        record.max_tokens,
        record.dtype,
        record.query_template,
        detector,
        record.detector_threshold,
    )
    if encoder.detector is not None and record.detector_threshold is None:
        # Built decoding one Viterbi path: the file's record (outside its sha256) may have
        # gained an operating point since.
        encoder = encoder.with_detector(encoder.detector.viterbi())
    check_same(record, encoder.record, directory)
    return encoder


def _recorded(record: EncoderRecord, directory, kind: str, shipped) -> Path:
    """The head or detector file an index was built with: at its path, else a shipped one."""
    path, digest = Path(getattr(record, f"{kind}_path")), getattr(record, f"{kind}_sha256")
    candidates = [path, shipped(record.model)]
    good = [p for p in candidates if p and p.is_file() and head_digest(p) == digest]
    if not good:
        now = f"now has sha256 {head_digest(path)[:12]}" if path.is_file() else "is missing"
        raise EncoderMismatch(
            f"index {directory} was built with {record.describe()}; its {kind} {path} {now}: "
            f"give the original {kind} file or rebuild the index"
        )
    return good[0]


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
    """Encodes documents' mentions (detecting them where a document has none given) and type
    descriptions into the head's space."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        head: Head,
        detector: Detector | None,
        record: EncoderRecord,
    ):
        self.extractor, self.head, self.detector, self.record = extractor, head, detector, record
        _, offsets = extractor.encode(["a"])
        specials = int(((offsets[0][:, 0] == 0) & (offsets[0][:, 1] == 0)).sum())
        self.max_real = extractor.max_tokens - specials  # BOS/start tokens take context too

    @classmethod
    def load(
        cls,
        model: str,
        head: str | Path | None = None,
        max_tokens: int = 512,
        dtype: str = "auto",
        query_template: str | None = None,
        detector: str | Path | None = None,
        detector_threshold: float | None = None,
    ) -> CorpusEncoder:
        """Loads the model up to the last block the head or detector reads (defaults: the
        shipped head and detector; detector NO_DETECTOR for none), the detector at operating
        point `detector_threshold` (None: the detector's own)."""
        dtype = resolve_dtype(dtype)  # the index records the precision it was built with
        path = resolve_head(model, head)
        loaded_head = load_head(path)
        if model_key(loaded_head.model) != model_key(model):
            raise EncoderMismatch(
                f"head {path} reads {loaded_head.model!r}; the model is {model!r}"
            )
        detector_path = resolve_detector(model, detector)
        if detector_path is None and detector_threshold is not None:
            raise ValueError(
                f"detector_threshold {detector_threshold} needs a mention detector, and there is "
                f"none (no detector ships for model {model!r}, or detector {NO_DETECTOR!r})"
            )
        loaded_detector = load_detector(detector_path) if detector_path else None
        if loaded_detector and model_key(loaded_detector.model) != model_key(model):
            raise EncoderMismatch(
                f"detector {detector_path} reads {loaded_detector.model!r}; the model is {model!r}"
            )
        if loaded_detector:
            loaded_detector = loaded_detector.with_threshold(detector_threshold)
        spec = loaded_head.spec
        taps = list(spec.taps) + list(loaded_detector.taps if loaded_detector else [])
        extractor = extractor_for(model, taps, dtype, max_tokens)
        record = EncoderRecord(
            model=model_key(model),
            model_version=model_version(model),
            taps=tuple(spec.taps),
            sentence_end=spec.sentence_end,
            head_path=str(path.resolve()),
            head_sha256=head_digest(path),
            head_variant=loaded_head.record.get("variant", "trained"),
            detector_path=str(detector_path.resolve()) if detector_path else None,
            detector_sha256=head_digest(detector_path) if detector_path else None,
            detector_variant=loaded_detector.record.get("variant") if loaded_detector else None,
            detector_threshold=loaded_detector.threshold if loaded_detector else None,
            query_template=query_template or loaded_head.query_template,
            max_tokens=max_tokens,
            dtype=dtype,
            dim=loaded_head.out_width,
        )
        return cls(extractor, loaded_head, loaded_detector, record)

    def unreduced(self) -> CorpusEncoder:
        """This encoder with its head's projection left off: the full mixed vectors."""
        head = self.head.unreduced()
        record = dataclasses.replace(self.record, dim=head.out_width)
        return CorpusEncoder(self.extractor, head, self.detector, record)

    def with_detector(self, detector: Detector) -> CorpusEncoder:
        """This encoder with another operating point of its detector (the same weights)."""
        record = dataclasses.replace(self.record, detector_threshold=detector.threshold)
        return CorpusEncoder(self.extractor, self.head, detector, record)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """[Q, D] unit vectors of type descriptions."""
        return self.queries_and_kinds(texts, kinds=False)[0]

    def queries_and_kinds(
        self, texts: Sequence[str], kinds: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """([Q, D] unit vectors of type descriptions, [Q, D] of their head phrases: the kind
        of entity a description names, "castle" in "castle in Scotland"), in one forward; the
        second is None unless `kinds`, and the head phrases are then not read."""
        spec, template = self.head.spec, self.record.query_template
        at = (*self.head.query_reading, *(["head"] if kinds else []))
        readings = query_readings(self.extractor, texts, spec, template, at)
        positions = len(self.head.query_reading)
        vectors = self.head.query_vectors(readings[:positions])
        return vectors, self.head.project(readings[-1]) if kinds else None

    def check_can_read(self, documents: Sequence[Document]) -> None:
        """Raises MentionsNeeded if some documents have no spans and there is no detector."""
        missing = [d for d in documents if d.spans is None]
        if missing and self.detector is None:
            raise MentionsNeeded(
                f"{len(missing)} document(s) have no mention spans (first: {missing[0].id}) and "
                f"this encoder has no mention detector (no detector ships for model "
                f"{self.record.model!r}): give a detector file, JSONL records with "
                "'mentions', or a labelled CoNLL file (its gold spans are the mentions)"
            )

    def documents(self, documents: Sequence[Document]) -> Encoded:
        """Every mention of the documents, each read once: given spans in the windows that
        hold them (windows.plan_windows), detected ones in the same pass that finds them.
        Raises MentionsNeeded for documents without spans when there is no detector."""
        given = [d for d, doc in enumerate(documents) if doc.spans is not None]
        found = [d for d, doc in enumerate(documents) if doc.spans is None]
        detected = self._found([documents[d] for d in found])  # first: it may refuse them
        parts = [self._given([documents[d] for d in given]), detected]
        for (_, origin, _), chosen in zip(parts, (given, found), strict=True):
            origin[:, 0] = np.asarray(chosen, np.int64)[origin[:, 0]]  # back to documents' order
        vectors = np.concatenate([p[0] for p in parts])
        origin = np.concatenate([p[1] for p in parts])
        dropped = sum(p[2] for p in parts)
        if not len(vectors):
            return Encoded.empty(self.record.dim, dropped)
        # Windows can take mentions out of order (a long one gets its own): back to text order.
        order = np.lexsort((origin[:, 2], origin[:, 1], origin[:, 0]))
        origin, vectors = origin[order], vectors[order]
        return Encoded(vectors, origin[:, 0], origin[:, 1], origin[:, 2], dropped)

    def _given(self, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray, int]:
        """(vectors [M, D], origin [M, 3] (document, start, end), dropped) of given spans."""
        ids, offsets = self.extractor.encode([d.text for d in documents])
        texts, encodings, spans, origin, dropped = [], [], [], [], 0
        for d, document in enumerate(documents):
            windows, lost = plan_windows(document.text, offsets[d], document.spans, self.max_real)
            if lost:
                logging.warning(
                    "%s: %d mention(s) not indexed: no token of their own, or longer than a window",
                    document.id,
                    len(lost),
                )
            dropped += len(lost)
            for w in windows:
                texts.append(document.text[w.start : w.end])
                encodings.append(_reused(document, w, ids[d], offsets[d]))
                spans.append([(a - w.start, b - w.start) for a, b in _at(document, w.mentions)])
                origin += [(d, a, b) for a, b in _at(document, w.mentions)]
        if not origin:
            return self._none(dropped)
        inputs, kept = mention_inputs(self.extractor, texts, spans, self.head.spec, encodings)
        dropped += int((~kept).sum())
        if not kept.all():
            logging.warning("%d mention(s) fell outside their window's encoding", (~kept).sum())
        if not kept.any():
            return self._none(dropped)
        vectors = np.asarray(self.head.project(inputs[kept]), np.float32)  # [M, D]
        return vectors, np.array(origin, np.int64)[kept], dropped

    def _found(self, documents: Sequence[Document]) -> tuple[np.ndarray, np.ndarray, int]:
        """(vectors, origin, 0) of the spans the detector finds, each document read whole in
        windows (windows.cover_windows), each span kept from the window that owns its end."""
        if self.detector is None:  # for callers that did not check_can_read the documents
            self.check_can_read(documents)
        if not documents:
            return self._none(0)
        ids, offsets = self.extractor.encode([d.text for d in documents])
        texts, encodings, covers = [], [], []
        for d, document in enumerate(documents):
            for cover in cover_windows(document.text, offsets[d], self.max_real):
                texts.append(document.text[cover.start : cover.end])
                encodings.append(_reused(document, cover, ids[d], offsets[d]))
                covers.append((d, cover))
        found = detect_mentions(self.extractor, self.detector, texts, encodings=encodings)
        inputs = found.inputs(self.head.spec)
        origin, keep = [], []
        for (d, cover), window_spans in zip(covers, found.spans, strict=True):
            for a, b in window_spans:
                a, b = a + cover.start, b + cover.start
                keep.append(cover.own_start < b <= cover.own_end)
                origin.append((d, a, b))
        if not any(keep):
            return self._none(0)
        keep = np.array(keep)
        vectors = np.asarray(self.head.project(inputs[keep]), np.float32)
        return vectors, np.array(origin, np.int64)[keep], 0

    def _none(self, dropped: int) -> tuple[np.ndarray, np.ndarray, int]:
        return np.zeros((0, self.record.dim), np.float32), np.zeros((0, 3), np.int64), dropped


def _at(document: Document, indices: Sequence[int]) -> list[tuple[int, int]]:
    return [document.spans[i] for i in indices]


def _reused(document: Document, window, ids: np.ndarray, offsets: np.ndarray):
    """The document's own encoding for a window that is the whole document, so it is not
    tokenised again; None for a part, another text that is tokenised on its own."""
    return (ids, offsets) if (window.start, window.end) == (0, len(document.text)) else None
