"""A persistent top-k inner-product index of L2-normalised vectors: exact (BLAS) or ScaNN."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import scann
from scann.scann_ops.py.scann_builder import ReorderType
from threadpoolctl import ThreadpoolController

from ner_jax.files import swap_in

FORMAT = 1
BACKENDS = ("auto", "exact", "scann")
MIN_SCANN_ROWS = 16  # AH trains 16 centres per block on the rows themselves
AUTO_EXACT_BELOW = 20_000  # below this, brute force is fast and ScaNN's training is noise
_QUERY_CHUNK = 1024  # exact search holds a [_QUERY_CHUNK, _DB_CHUNK] float32 score block:
_DB_CHUNK = 16_384  # 64 MiB, whatever N is
# Up to this many queries, exact search runs BLAS on one thread: their products stream the
# vectors (matrix-vector, memory-bound), and idle BLAS threads keep spinning after a product,
# taking the cores from the decoder's next query pass (measured in docs/performance.md).
_ONE_THREAD_QUERIES = 8


@dataclasses.dataclass(frozen=True)
class ScannConfig:
    """Size-independent ScaNN knobs; `sized(n)` derives the tree for a corpus of n rows.

    Bytes per vector on disk (measured at D=64 and D=500): D (int8 reordering data) +
    D / dimensions_per_block (AH codes, a byte per block) + 4 (leaf id), plus a fixed part for
    the tree and codebooks (~50 KB at D=64, ~300 KB at D=500 with 63 leaves). The shipped
    head's 384-d vectors cost 384 + 192 + 4 = 580 B per vector and the fixed part.
    """

    max_leaves: int = 2000
    # At 1M rows, recall@100 with 0.1 of the leaves was 0.979, with 0.15 0.987 and with 0.2
    # 0.988 for a third more search time (docs/performance.md). SOAR (soar_lambda below) found
    # no more per millisecond there and takes a third more bytes per row.
    leaves_to_search_fraction: float = 0.15
    min_leaves_to_search: int = 10  # 15% of a small tree is too coarse a cut
    # ... and so is one of a mid-sized tree: search at least this many rows' leaves (at D=384,
    # recall@100 at 100k rows was 0.985 with a fifth of the leaves, 0.988 with two fifths).
    min_rows_to_search: int = 25_000
    max_training_sample: int = 250_000
    reorder: int = 100  # a search re-scores max(reorder, reorder_per_k * k) AH candidates on
    reorder_per_k: int = 8  # int8 data; at 1M rows, 4 per k gave recall@100 0.979, 8 0.988
    dimensions_per_block: int = 2
    # AH weighs parallel error (D - 1) T^2 / (1 - T^2) times perpendicular: 3.9 at D=384 with
    # T=0.1, as the paper's T=0.2 does at D=100. At D=1524, 100k rows, a weight of 63 (T=0.2)
    # gave recall@100 0.84 and 3.8 (T=0.05) 0.975.
    anisotropic_threshold: float = 0.1
    # SOAR (ScaNN >= 1.3): each row is also filed in a second leaf chosen so that its two
    # residuals are near-orthogonal, so fewer leaves searched find as many neighbours. 0: off.
    soar_lambda: float = 0.0
    overretrieve_factor: float = 2.0  # SOAR: candidates over-fetched, for its duplicates

    def sized(self, n: int) -> dict:
        leaves = max(1, min(self.max_leaves, round(math.sqrt(n))))
        wanted = max(
            self.min_leaves_to_search,
            math.ceil(leaves * self.leaves_to_search_fraction),
            math.ceil(self.min_rows_to_search * leaves / n),  # at n / leaves rows per leaf
        )
        return dict(
            num_leaves=leaves,
            num_leaves_to_search=min(leaves, wanted),
            training_sample_size=min(n, self.max_training_sample),
        )


def _check(x: np.ndarray, name: str, dim: int | None = None, unit: bool = False) -> np.ndarray:
    """Returns x as C-contiguous float32 [N, D], or raises naming what is wrong with it."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [N, D] array, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has zero rows")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} have dimension {x.shape[1]}, the index has dimension {dim}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    sq = np.einsum("nd,nd->n", x, x)  # [N]; NaN/inf anywhere in a row shows up here
    if not np.isfinite(sq).all():
        raise ValueError(f"{name} contain NaN or inf")
    if unit and np.abs(sq - 1).max() > 1e-2:
        raise ValueError(
            f"{name} are not L2-normalised (squared norms in [{sq.min():.3g}, {sq.max():.3g}])"
        )
    return x


class VectorIndex:
    """Top-k by inner product over `len(self)` rows of dimension `dim`; ids are row numbers."""

    backend: str

    def __init__(self, count: int, dim: int):
        self.count, self.dim = count, dim

    def __len__(self) -> int:
        return self.count

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries [Q, D] -> (scores [Q, k] float32, ids [Q, k] int64), best first.

        Rows with fewer than k hits are padded with score -inf and id -1.
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        return self._search(_check(queries, "queries", self.dim), k)

    def add(self, vectors: np.ndarray) -> VectorIndex:
        """A new index, same backend, of old + new [M, D] rows (ids go on from len(self)).

        self is left as it was; the scann backend rebuilds its tree (see ScannIndex).
        """
        new = _check(vectors, "vectors", self.dim, unit=True)
        return self._add(new)

    def save(self, directory: str | os.PathLike) -> None:
        """Writes the index to a sibling temp dir, then renames it onto `directory`."""
        target = Path(directory)
        if target.exists() and any(target.iterdir()) and not (target / "index.json").is_file():
            raise FileExistsError(f"{target}: exists and is not a vector index; not replacing it")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
        try:
            meta = {"format": FORMAT, "backend": self.backend, "count": self.count}
            _write_meta(tmp, {**meta, "dim": self.dim, **self._write(tmp)})  # last: marks done
            os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only
            swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _write_meta(directory: Path, meta: dict) -> None:
    (directory / "index.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


class ExactIndex(VectorIndex):
    """Brute force: a BLAS matmul per database chunk, merged with argpartition."""

    backend = "exact"

    def __init__(self, vectors: np.ndarray):
        super().__init__(*vectors.shape)
        self.vectors = vectors  # [N, D] float32, possibly a read-only memmap

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        few = len(queries) <= _ONE_THREAD_QUERIES
        with _blas().limit(limits=1, user_api="blas") if few else contextlib.nullcontext():
            return self._scan(queries, k)

    def _scan(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(queries), k), -np.inf, np.float32)  # [Q, k]
        ids = np.full((len(queries), k), -1, np.int64)  # [Q, k]
        for q0 in range(0, len(queries), _QUERY_CHUNK):
            q = queries[q0 : q0 + _QUERY_CHUNK]  # [q, D]
            best_s, best_i = scores[q0 : q0 + len(q)], ids[q0 : q0 + len(q)]  # views, [q, k]
            for d0 in range(0, self.count, _DB_CHUNK):
                s = q @ np.asarray(self.vectors[d0 : d0 + _DB_CHUNK]).T  # [q, c]
                i = np.broadcast_to(np.arange(d0, d0 + s.shape[1]), s.shape)  # [q, c]
                s, i = np.concatenate([best_s, s], 1), np.concatenate([best_i, i], 1)
                top = np.argpartition(-s, k - 1, axis=1)[:, :k]  # [q, k] unordered
                best_s[:], best_i[:] = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
        order = np.lexsort((ids, -scores), axis=1)  # score descending, ties by id
        return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)

    def _add(self, new: np.ndarray) -> VectorIndex:
        return ExactIndex(np.concatenate([np.asarray(self.vectors), new]))

    def _write(self, directory: Path) -> dict:
        np.save(directory / "vectors.npy", np.asarray(self.vectors))
        return {}


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()  # looks up the loaded BLAS libraries once


class ScannIndex(VectorIndex):
    """ScaNN tree + anisotropic AH + int8 exact reordering; ScaNN sees dot product.

    ScaNN keeps only int8 reordering data, no float copy, so `add` rebuilds the tree from the
    dequantised old rows (re-normalised; per-dim error <= 1/254 of that dim's range) plus the
    new ones: old rows go through int8 twice, and the whole tree is retrained, O(N) work.
    """

    backend = "scann"

    def __init__(self, searcher, count: int, dim: int, config: ScannConfig):
        super().__init__(count, dim)
        self.searcher, self.config = searcher, config

    @classmethod
    def build(cls, vectors: np.ndarray, config: ScannConfig) -> ScannIndex:
        n, dim = vectors.shape
        if n < MIN_SCANN_ROWS:
            raise ValueError(f"the scann backend needs at least {MIN_SCANN_ROWS} rows, got {n}")
        sized = config.sized(n)
        soar = {}
        if config.soar_lambda > 0:
            soar = dict(
                soar_lambda=config.soar_lambda, overretrieve_factor=config.overretrieve_factor
            )
        searcher = (
            scann.scann_ops_pybind.builder(vectors, 10, "dot_product")
            .tree(
                **sized,
                min_partition_size=min(50, max(1, n // (2 * sized["num_leaves"]))),
                **soar,
            )
            .score_ah(
                config.dimensions_per_block,
                config.anisotropic_threshold,
                training_sample_size=sized["training_sample_size"],
            )
            .reorder(config.reorder, quantize=ReorderType.INT8)
            .build()
        )
        return cls(searcher, n, dim, config)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        parallel = len(queries) > 256  # below that, thread start-up outweighs the work
        search = self.searcher.search_batched_parallel if parallel else self.searcher.search_batched
        ids, scores = search(
            queries,
            final_num_neighbors=k,
            pre_reorder_num_neighbors=max(self.config.reorder, self.config.reorder_per_k * k),
        )
        ids, scores = np.asarray(ids, np.int64), np.asarray(scores, np.float32)  # [Q, k]
        missing = np.isnan(scores)  # ScaNN pads short rows with id 0 and score NaN
        return np.where(missing, -np.inf, scores), np.where(missing, -1, ids)

    def _add(self, new: np.ndarray) -> VectorIndex:
        with tempfile.TemporaryDirectory() as tmp:
            self.searcher.serialize(tmp, relative_path=True)
            old = np.load(Path(tmp) / "int8_dataset.npy").astype(np.float32)  # [N, D]
            old /= np.load(Path(tmp) / "int8_multipliers.npy").astype(np.float32)  # [D]
        old /= np.linalg.norm(old, axis=1, keepdims=True)
        return ScannIndex.build(np.concatenate([old, new]), self.config)

    def _write(self, directory: Path) -> dict:
        (directory / "scann").mkdir()
        self.searcher.serialize(str(directory / "scann"), relative_path=True)
        return {"scann": dataclasses.asdict(self.config)}


def build_index(
    vectors: np.ndarray, backend: str = "auto", config: ScannConfig | None = None
) -> VectorIndex:
    """An index over vectors [N, D] (L2-normalised); "auto" is exact below AUTO_EXACT_BELOW.

    The exact backend keeps float32 C-contiguous input as is, without a copy.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    vectors = _check(vectors, "vectors", unit=True)
    if backend == "auto":
        backend = "exact" if len(vectors) < AUTO_EXACT_BELOW else "scann"
    if backend == "exact":
        return ExactIndex(vectors)
    return ScannIndex.build(vectors, config or ScannConfig())


def load_index(directory: str | os.PathLike) -> VectorIndex:
    """Reads an index written by `VectorIndex.save` (exact vectors are memory-mapped)."""
    directory = Path(directory)
    meta_path = directory / "index.json"
    if not meta_path.is_file():
        parked = sorted(directory.parent.glob(f".{directory.name}.old-*"))
        hint = f"; a save was interrupted, the previous index is at {parked[0]}" if parked else ""
        raise FileNotFoundError(f"{directory}: not a vector index (no index.json){hint}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{directory}: index format {meta.get('format')}, expected {FORMAT}")
    if meta["backend"] == "exact":
        return ExactIndex(np.load(directory / "vectors.npy", mmap_mode="r"))
    searcher = scann.scann_ops_pybind.load_searcher(str(directory / "scann"))
    return ScannIndex(searcher, meta["count"], meta["dim"], ScannConfig(**meta["scann"]))


def bytes_on_disk(directory: str | os.PathLike) -> int:
    """Total size of the files under `directory`."""
    return sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
