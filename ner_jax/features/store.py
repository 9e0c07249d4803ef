"""An on-disk, resumable store of mention features: shards written atomically, then merged."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import logging
from tqdm import tqdm

from ner_jax.features.extractor import FeatureExtractor
from ner_jax.files import atomic

# Bump when extraction changes what it computes, so that older stores are rebuilt.
FORMAT = 2


def corpus_key(extractor: FeatureExtractor, texts, spans) -> str:
    """Identifies the rows of a store: model, dtype, limits and the corpus (not the taps)."""
    h = hashlib.sha256()
    m = extractor.model
    h.update(
        json.dumps(
            [FORMAT, m.name, m.dtype, extractor.max_tokens, m.config.to_dict()], sort_keys=True
        ).encode()
    )
    for text, doc_spans in zip(texts, spans, strict=True):
        h.update(json.dumps([text, [list(s) for s in doc_spans]]).encode())
    return h.hexdigest()


def fingerprint(extractor: FeatureExtractor, texts, spans) -> str:
    """Identifies what a store holds: the corpus key plus blocks and components."""
    taps = json.dumps([list(extractor.blocks), list(extractor.components)])
    return hashlib.sha256((corpus_key(extractor, texts, spans) + taps).encode()).hexdigest()


class FeatureStore:
    """A finished store: `get(component, block)` is a read-only [M, width] float32 array."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        meta_path = self.directory / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.directory}: not a finished feature store (no meta)")
        self.meta = json.loads(meta_path.read_text())
        self.kept = np.load(self.directory / "kept.npy")

    def holds(self, components: Sequence[str], blocks: Sequence[int]) -> bool:
        return set(components) <= set(self.meta["components"]) and set(blocks) <= set(
            self.meta["blocks"]
        )

    def get(self, component: str, block: int) -> np.ndarray:
        if component not in self.meta["components"] or block not in self.meta["blocks"]:
            raise KeyError(
                f"{self.directory} holds {self.meta['components']} at blocks {self.meta['blocks']},"
                f" not {component} at block {block}"
            )
        array = np.load(self.directory / f"{component}.npy", mmap_mode="r")
        return array[self.meta["blocks"].index(block)]


def extract_to_store(
    extractor: FeatureExtractor,
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
    directory: Path,
    shard_docs: int = 2048,
    progress: bool = True,
    dtype: str = "float32",
) -> FeatureStore:
    """Encode all spans into `directory`, resuming from finished shards after a kill.

    `dtype` is the storage type: float16 halves the disk a probe of every block needs.

    A store for a different corpus or encoder in the same directory is replaced, not mixed in.
    """
    directory = Path(directory)
    key = fingerprint(extractor, texts, spans) + f"-{dtype}"
    if (directory / "meta.json").is_file():
        store = FeatureStore(directory)
        if store.meta["fingerprint"] == key:
            return store
    plan = directory / "shards" / "plan.json"
    if plan.is_file() and json.loads(plan.read_text())["fingerprint"] != key:
        logging.warning("%s holds features of another corpus or encoder: starting over", directory)
        shutil.rmtree(directory / "shards")
    (directory / "meta.json").unlink(missing_ok=True)
    (directory / "shards").mkdir(parents=True, exist_ok=True)
    atomic.write_text(plan, json.dumps({"fingerprint": key, "shard_docs": shard_docs}))
    starts = list(range(0, len(texts), shard_docs))
    done = [directory / "shards" / f"{i:05d}.npz" for i in range(len(starts))]
    bar = tqdm(total=len(texts), unit="doc", disable=not progress, desc="features")
    for i, first in enumerate(starts):
        chunk = slice(first, first + shard_docs)
        if done[i].is_file():
            bar.update(len(texts[chunk]))
            continue
        out, kept = extractor(texts[chunk], spans[chunk], bar)
        atomic.save_npz(done[i], kept=kept, **{n: v.astype(dtype) for n, v in out.items()})
    bar.close()
    return _merge(extractor, done, directory, key, corpus_key(extractor, texts, spans))


def cached_store(
    extractor: FeatureExtractor,
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
    root: Path,
    progress: bool = True,
) -> FeatureStore:
    """A store under `root` for this corpus holding at least the extractor's taps: an existing
    one (of any superset of taps) if there is one, else a new one extracted into `root`."""
    root = Path(root)
    key = corpus_key(extractor, texts, spans)
    for meta in sorted(root.glob("*/meta.json")):
        store = FeatureStore(meta.parent)
        if store.meta.get("corpus_key") == key and store.holds(
            extractor.components, extractor.blocks
        ):
            return store
    taps = "-".join(extractor.components) + "@" + "-".join(map(str, extractor.blocks))
    return extract_to_store(extractor, texts, spans, root / f"{key[:12]}-{taps}", progress=progress)


def cached_means(
    extractor: FeatureExtractor,
    texts: Sequence[str],
    root: Path,
    progress: bool = True,
    chunk: int = 256,
) -> dict[tuple[str, int], np.ndarray]:
    """(component, block) -> [len(texts), width]: each text's taps averaged over its tokens
    (FeatureExtractor.token_means), read once into a file under `root` and reused."""
    key = corpus_key(extractor, texts, [[] for _ in texts])
    taps = "-".join(extractor.components) + "@" + "-".join(map(str, extractor.blocks))
    path = Path(root) / f"{key[:12]}-means-{taps}.npz"
    names = [(c, b) for c in extractor.components for b in extractor.blocks]
    if path.is_file():
        with np.load(path) as saved:
            return {(c, b): saved[f"{c}@{b}"] for c, b in names}
    parts = []
    for first in tqdm(range(0, len(texts), chunk), disable=not progress, desc="text means"):
        per_text, offsets = extractor.all_tokens(texts[first : first + chunk])
        parts.append(extractor.token_means(per_text, offsets))
    means = {
        (c, b): np.concatenate([np.zeros((0, width), np.float32)] + [p[c][i] for p in parts])
        for c, width in extractor.widths().items()
        for i, b in enumerate(extractor.blocks)
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.save_npz(path, **{f"{c}@{b}": v for (c, b), v in means.items()})
    return means


def _merge(extractor: FeatureExtractor, shards: list[Path], directory: Path, key: str, corpus: str):
    parts = [np.load(path) for path in shards]
    kept = np.concatenate([p["kept"] for p in parts]) if parts else np.zeros(0, bool)
    for name, width in extractor.widths().items():
        empty = np.zeros((len(extractor.blocks), 0, width), np.float32)
        merged = np.concatenate([p[name] for p in parts], axis=1) if parts else empty
        atomic.save_npy(directory / f"{name}.npy", merged)
    atomic.save_npy(directory / "kept.npy", kept)
    dropped = int((~kept).sum())
    if dropped:
        logging.warning(
            "%d of %d mentions lie past %d tokens and have no features",
            dropped,
            len(kept),
            extractor.max_tokens,
        )
    meta = {
        "fingerprint": key,
        "corpus_key": corpus,
        "model": extractor.model.name,
        "tap_block": extractor.model.tap_block,
        "dtype": extractor.model.dtype,
        "blocks": list(extractor.blocks),
        "components": list(extractor.components),
        "max_tokens": extractor.max_tokens,
        "mentions": len(kept),
        "dropped_past_max_tokens": dropped,
    }
    atomic.write_text(directory / "meta.json", json.dumps(meta, indent=1))  # last: marks completion
    shutil.rmtree(directory / "shards")
    return FeatureStore(directory)
