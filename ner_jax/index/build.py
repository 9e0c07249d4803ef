"""Builds and extends a corpus index directory, atomically and resumably."""

# INDEX/ holds `encoder.json` (the EncoderRecord: model, taps, head sha256 and variant, the
# detector's sha256 and operating point, max_tokens), `store.sqlite` (documents and mention
# metadata: store.Store), `vectors/` (the vector index; a mention's id is its store row) and
# `manifest.json` (counts, backend, generation), written last.
#
# Documents are encoded in batches into a work directory beside the index, `.INDEX.work/`; each
# finished batch is saved atomically, so a rerun after a kill (same documents, same encoder)
# reuses them. The complete index is assembled in `.INDEX.staging-*/` and swapped in at once, so
# a build killed at any point leaves the previous index as it was.

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from absl import logging
from tqdm import tqdm

from ner_jax.detector import check_threshold
from ner_jax.files import atomic, swap_in
from ner_jax.index.documents import Document, check_unique_ids
from ner_jax.index.encoder import CorpusEncoder, Encoded, open_encoder
from ner_jax.index.record import EncoderRecord, check_same
from ner_jax.index.store import Store
from ner_jax.index.vectors import AUTO_EXACT_BELOW, ExactIndex, VectorIndex, build_index, load_index
from ner_jax.model import DEFAULT_MODEL

ENCODER, STORE, VECTORS, MANIFEST = "encoder.json", "store.sqlite", "vectors", "manifest.json"


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    model: str = DEFAULT_MODEL  # named model, HF checkpoint directory or .gguf file
    head: str | None = None  # head file (default: the one shipped for the model)
    detector: str | None = None  # detector file (default: the shipped one; "none": no detector)
    backend: str = "auto"  # vector index backend: auto, exact or scann
    max_tokens: int = 512  # longer documents are read in overlapping windows
    dtype: str = "auto"  # resolved once (model.resolve_dtype) and recorded in encoder.json
    batch_docs: int = 256  # documents per resumable batch
    # A token whose probability of ending a mention is at least this ends one (lower: more
    # mentions, a larger index; 0: every word). None: the detector file's own operating point.
    detector_threshold: float | None = None

    def __post_init__(self):
        check_threshold(self.detector_threshold)


def read_meta(directory: str | Path) -> tuple[EncoderRecord, dict]:
    """(encoder record, manifest) of a complete index; errors say what is missing."""
    directory = Path(directory)
    if not (directory / MANIFEST).is_file():
        parked = sorted(directory.parent.glob(f".{directory.name}.old-*"))
        hint = f"; an interrupted swap parked the previous index at {parked[0]}" if parked else ""
        raise FileNotFoundError(f"{directory}: not a corpus index (no {MANIFEST}){hint}")
    record, manifest = (json.loads((directory / name).read_text()) for name in (ENCODER, MANIFEST))
    return EncoderRecord.from_json(record, directory / ENCODER), manifest


def build_corpus_index(
    documents: Sequence[Document],
    directory: str | Path,
    config: IndexConfig = IndexConfig(),
    progress: bool = True,
) -> dict:
    """Index the documents' mentions into `directory` (replacing an index there); a summary.

    Documents without spans (plain text, JSONL without "mentions") get the detector's."""
    check_unique_ids(documents)
    if all(d.spans is not None for d in documents) and not sum(len(d.spans) for d in documents):
        raise ValueError("no mentions to index: every document has an empty mention list")
    target = Path(directory)
    if target.exists() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise FileExistsError(f"{target}: exists and is not a corpus index; not replacing it")
    with _locked(target):
        started = time.perf_counter()
        encoder = CorpusEncoder.load(
            config.model,
            config.head,
            config.max_tokens,
            config.dtype,
            detector=config.detector,
            detector_threshold=config.detector_threshold,
        )
        encoder.check_can_read(documents)
        encoded, batches = _encode_resumably(
            encoder, documents, target, "", config.batch_docs, progress
        )
        if not len(encoded.vectors):
            if encoded.dropped:
                raise ValueError(f"none of the {encoded.dropped} mentions could be read (above)")
            raise ValueError(f"the detector found no mentions in the {len(documents)} documents")

        def fill(staging: Path) -> VectorIndex:
            pairs = [(d.id, d.text) for d in documents]
            with Store.create(staging / STORE) as store:
                store.append(pairs, encoded.doc, encoded.start, encoded.end)
            return build_index(encoded.vectors, config.backend)

        run = _run_summary(documents, encoded, batches)
        return _publish(target, encoder.record, config.backend, fill, run, started)


def add_to_index(
    documents: Sequence[Document],
    directory: str | Path,
    model: str | None = None,
    head: str | None = None,
    batch_docs: int = 256,
    progress: bool = True,
    encoder: CorpusEncoder | None = None,
) -> dict:
    """Encode only the new documents and swap in the grown index; a summary.

    model/head default to the index's own; others are refused (EncoderMismatch). The detector
    runs at the index's recorded operating point. Document ids already in the index are
    rejected. `encoder`: the index's own, already loaded (a Retriever's), checked against the
    record; model and head are then ignored."""
    target = Path(directory)
    record, manifest = read_meta(target)
    with Store(target / STORE) as store:
        check_unique_ids(documents, store.existing_ids([d.id for d in documents]))
    with _locked(target):
        started = time.perf_counter()
        if encoder is None:
            encoder = open_encoder(record, target, model, head)
        check_same(record, encoder.record, target)
        encoder.check_can_read(documents)
        base = manifest["generation"]  # a work directory from another base is not reused
        encoded, batches = _encode_resumably(encoder, documents, target, base, batch_docs, progress)

        def fill(staging: Path) -> VectorIndex:
            shutil.copyfile(target / STORE, staging / STORE)
            pairs = [(d.id, d.text) for d in documents]
            with Store(staging / STORE, writable=True) as store:
                store.append(pairs, encoded.doc, encoded.start, encoded.end)
            return _grow(load_index(target / VECTORS), encoded.vectors, manifest["backend"])

        run = _run_summary(documents, encoded, batches)
        return _publish(target, record, manifest["backend"], fill, run, started)


def _grow(old: VectorIndex, new: np.ndarray, backend: str) -> VectorIndex:
    if not len(new):
        return old
    if (
        backend == "auto"
        and isinstance(old, ExactIndex)
        and len(old) + len(new) >= AUTO_EXACT_BELOW
    ):
        # Grown past the size where "auto" picks ScaNN: build one from the exact float rows.
        return build_index(np.concatenate([np.asarray(old.vectors), new]), "auto")
    return old.add(new)


def _encode_resumably(
    encoder: CorpusEncoder,
    documents: Sequence[Document],
    target: Path,
    base: str,
    batch_docs: int,
    progress: bool,
) -> tuple[Encoded, dict]:
    """All documents' mentions (doc = index into `documents`), reusing finished batches."""
    work = _work_dir(target, _fingerprint(encoder.record, base, batch_docs, documents))
    parts, counts = [], {"encoded": 0, "reused": 0}
    with tqdm(total=len(documents), unit="doc", desc="encoding", disable=not progress) as bar:
        for first in range(0, len(documents), batch_docs):
            chunk = documents[first : first + batch_docs]
            path = work / f"batch-{first // batch_docs:06d}.npz"
            if path.is_file():
                parts.append(Encoded.load(path))
                counts["reused"] += 1
            else:
                part = encoder.documents(chunk)
                parts.append(dataclasses.replace(part, doc=part.doc + first))
                parts[-1].save(path)
                counts["encoded"] += 1
            bar.update(len(chunk))
    if counts["reused"]:
        logging.info("reused %d finished batch(es) from %s", counts["reused"], work)
    return Encoded.concat(parts, encoder.record.dim), counts


def _work_dir(target: Path, fingerprint: dict) -> Path:
    """`.INDEX.work/` for this build: kept if it was made for the same one, else emptied."""
    work = target.parent / f".{target.name}.work"
    plan = work / "plan.json"
    if work.exists() and (not plan.is_file() or json.loads(plan.read_text()) != fingerprint):
        logging.info("discarding %s: its batches belong to another build", work)
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    atomic.write_text(plan, json.dumps(fingerprint))
    return work


def _run_summary(documents: Sequence[Document], encoded: Encoded, batches: dict) -> dict:
    return {
        "added_documents": len(documents),
        "added_mentions": len(encoded.vectors),
        "dropped_mentions": int(encoded.dropped),
        "batches": batches,
    }


def _fingerprint(
    record: EncoderRecord, base: str, batch_docs: int, documents: Sequence[Document]
) -> dict:
    """What a work directory's batches depend on: encoder, base index, batching, documents."""
    digest = hashlib.sha256()
    for d in documents:
        digest.update(json.dumps([d.id, d.text, d.spans]).encode())
    return {
        "encoder": record.to_json(),
        "base": base,
        "batch_docs": batch_docs,
        "documents": digest.hexdigest(),
    }


def _publish(
    target: Path,
    record: EncoderRecord,
    backend: str,
    fill: Callable[[Path], VectorIndex],
    run: dict,
    started: float,
) -> dict:
    """Assemble the index in a staging directory, swap it in, drop the work directory."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-"))
    try:
        index = fill(staging)
        index.save(staging / VECTORS)
        with Store(staging / STORE) as store:
            documents, mentions = store.counts()
        if mentions != len(index):
            raise RuntimeError(f"{mentions} mentions in the store but {len(index)} vectors")
        manifest = {
            "generation": uuid.uuid4().hex,
            "backend": backend,
            "vector_backend": index.backend,
            "documents": documents,
            "mentions": mentions,
        }
        atomic.write_text(staging / ENCODER, json.dumps(record.to_json(), indent=1) + "\n")
        atomic.write_text(staging / MANIFEST, json.dumps(manifest, indent=1) + "\n")  # last
        os.chmod(staging, 0o755)  # mkdtemp makes it owner-only
        swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target.parent / f".{target.name}.work", ignore_errors=True)
    summary = {**manifest, **run, "seconds": round(time.perf_counter() - started, 2)}
    logging.info("index %s: %s", target, summary)
    return summary


@contextlib.contextmanager
def _locked(target: Path):
    """One builder per index at a time; leftovers of killed builds' staging are removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"{target}: another build or add is running") from None
        for stale in target.parent.glob(f".{target.name}.staging-*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield
