"""Vector index benchmark: ScaNN against exact search on the same vectors.

  nice -n 19 .venv/bin/python scripts/bench_index.py --out results/bench_index.json
  nice -n 19 .venv/bin/python scripts/bench_index.py --quick  # 10k and 100k, 100 queries

Synthetic clustered unit vectors shaped like mention vectors (--dim 384, as the shipped head's;
--head_dim splits them into a raw part and a head part, each L2-normalised and scaled by
sqrt(0.5), as unreduced heads with a raw_mix have them). Cluster (type) centres share one
direction, as contextual embeddings do, fall into --domains groups of related types, and have
Zipf sizes; a point is its centre plus noise. Queries are centres plus more noise (a type
description lands near its type, not on it) and are not in the index. Each size is a prefix of
the same rows (fixed-seed chunks). Per size: build seconds, ScaNN recall@k against exact, search
latency p50/p99 one query at a time after a warm-up, bytes per mention on disk, and the process
peak RSS after building. Unless --noend_to_end, each backend is also timed end to end as a user
queries it, `Retriever.search(description, k=10)`: the type descriptions of --real_queries
embedded by the default encoder, searched, grouped by document over a store (synthetic rows: a
store of 5 mentions per document; real: the index's own), and the embedding's floor is
measured: the time to read, once, the decoder weights a query's forward needs (key
query_floor). --index DIR adds a "real" row for a
corpus index (DIR/vectors or DIR), queried with its own rows plus small noise. --sweep also
measures search-time knobs (leaves searched, AH candidates re-scored) on each ScaNN tree;
--scann_* override ScannConfig fields; --compare adds a second ScaNN build per size with other
ScannConfig values (rows "compare").
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import math
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import flags

from ner_jax.cli import config_from_flags, override, run_launcher
from ner_jax.index import ScannConfig, build_index, bytes_on_disk

flags.DEFINE_string("sizes", "10000,100000,1000000", "comma-separated index sizes")
flags.DEFINE_bool("quick", False, "sizes 10000,100000 and 100 queries")
flags.DEFINE_integer("dim", 384, "vector dimension")
flags.DEFINE_integer("head_dim", 0, "width of the head part (0: one part of width --dim)")
flags.DEFINE_integer("clusters", 3000, "cluster (type) centres")
flags.DEFINE_float("zipf", 1.1, "cluster size of rank r is proportional to r ** -zipf")
flags.DEFINE_integer("domains", 30, "groups of related clusters (0: no grouping)")
flags.DEFINE_float("centre_shared", 0.65, "weight of the direction all centres share")
flags.DEFINE_float("centre_domain", 0.8, "weight of a centre's domain direction")
flags.DEFINE_float("point_noise", 1.0, "noise norm around a unit centre, per part (points)")
flags.DEFINE_float("query_noise", 1.5, "noise norm around a unit centre, per part (queries)")
flags.DEFINE_integer("queries", None, "queries (default 200, --quick 100)")
flags.DEFINE_integer("k", 100, "neighbours per query")
flags.DEFINE_integer("warmup", 10, "untimed queries per backend before timing")
flags.DEFINE_integer("seed", 0, "data seed")
flags.DEFINE_string("index", None, "a real corpus index directory to benchmark as well")
flags.DEFINE_float("real_noise", 0.1, "noise norm added to real rows to make queries")
flags.DEFINE_list(
    "real_queries",
    ["../shared/data/queries/crossner.json", "../shared/data/queries/multiconer.json"],
    "for a corpus index (DIR/encoder.json): JSON maps label -> query words, embedded with the"
    " index's own encoder as the real queries (instead of noisy rows)",
)
flags.DEFINE_bool("end_to_end", True, "also time Retriever.search (embed, search, aggregate)")
flags.DEFINE_bool("synthetic", True, "run the synthetic sizes (--nosynthetic: only --index)")
flags.DEFINE_bool("sweep", False, "also sweep leaves_to_search and pre-reorder candidates")
flags.DEFINE_list("sweep_leaves", [], "leaves to search in --sweep (default: around the tree's)")
flags.DEFINE_list("sweep_reorder", [], "candidates per k re-scored in --sweep (default: 1-16)")
flags.DEFINE_string("tmp_dir", None, "where to save indexes to measure them (default: TMPDIR)")
for _field in dataclasses.fields(ScannConfig):  # all int or float; unset: the default
    _define = flags.DEFINE_integer if isinstance(_field.default, int) else flags.DEFINE_float
    _define(f"scann_{_field.name}", None, f"override ScannConfig.{_field.name}")
flags.DEFINE_list(
    "compare", [], "also build ScaNN with these overrides, e.g. anisotropic_threshold=0.2"
)
flags.DEFINE_string("out", None, "JSON output path")
FLAGS = flags.FLAGS

_CHUNK = 32_768  # rows generated per chunk (~50 MB of float32 noise at D=384)


def parts(dim: int, head_dim: int) -> list[slice]:
    """Column ranges normalised separately, like the raw and head parts of a mention vector."""
    if not 0 < head_dim < dim:
        return [slice(0, dim)]
    return [slice(0, dim - head_dim), slice(dim - head_dim, dim)]


def unit_parts(x: np.ndarray, cols: list[slice]) -> np.ndarray:
    """x [N, D] with each part L2-normalised and scaled by sqrt(1/parts), in place."""
    for c in cols:
        x[:, c] /= np.linalg.norm(x[:, c], axis=1, keepdims=True) * math.sqrt(len(cols))
    return x


def noisy(rng, centres: np.ndarray, noise: float, cols: list[slice]) -> np.ndarray:
    """[N, D] unit rows: per part, the (unit) centre part plus Gaussian noise of norm ~noise."""
    x = rng.standard_normal(centres.shape, dtype=np.float32)  # [N, D]
    for c in cols:
        x[:, c] *= noise / math.sqrt(c.stop - c.start)
    x += centres * math.sqrt(len(cols))  # centre parts back to unit norm each
    return unit_parts(x, cols)


class Synthetic:
    """Clustered mention-like vectors; row i is the same whatever the total asked for."""

    def __init__(self, dim: int, head_dim: int, clusters: int, seed: int):
        self.dim, self.seed, self.cols = dim, seed, parts(dim, head_dim)
        rng = np.random.default_rng([seed, 0])
        shared = rng.standard_normal((1, dim), dtype=np.float32)  # [1, D]
        domains = rng.standard_normal((max(1, FLAGS.domains), dim), dtype=np.float32)  # [G, D]
        own = rng.standard_normal((clusters, dim), dtype=np.float32)  # [C, D]
        for x in (shared, domains, own):
            for c in self.cols:
                x[:, c] /= math.sqrt(c.stop - c.start)  # ~unit norm per part
        domain = domains[rng.integers(0, len(domains), clusters)] if FLAGS.domains else 0
        centres = FLAGS.centre_shared * shared + FLAGS.centre_domain * domain + own
        self.centres = unit_parts(centres, self.cols)  # [C, D]
        rank = np.arange(1, clusters + 1, dtype=np.float64)
        self.sizes = rank**-FLAGS.zipf / np.sum(rank**-FLAGS.zipf)  # [C], share of points

    def points(self, out: np.ndarray) -> np.ndarray:
        """Fills out [n, D] with rows 0..n-1."""
        n = len(out)
        for chunk, start in enumerate(range(0, n, _CHUNK)):
            rng = np.random.default_rng([self.seed, 1, chunk])  # per chunk: prefixes agree
            rows = min(_CHUNK, n - start)
            label = rng.choice(len(self.centres), rows, p=self.sizes)  # [rows]
            out[start : start + rows] = noisy(
                rng, self.centres[label], FLAGS.point_noise, self.cols
            )
        return out

    def queries(self, q: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 2])
        # Between uniform over types and proportional to their mention counts.
        weight = np.sqrt(self.sizes) / np.sum(np.sqrt(self.sizes))
        label = rng.choice(len(self.centres), q, p=weight)  # [q]
        return noisy(rng, self.centres[label], FLAGS.query_noise, self.cols)


def real_vectors(directory: Path) -> np.ndarray:
    """[N, D] float32 unit rows of a saved VectorIndex (int8 rows dequantised for scann)."""
    if (directory / "vectors" / "index.json").is_file():
        directory = directory / "vectors"
    meta = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    if meta["backend"] == "exact":
        return np.load(directory / "vectors.npy")
    x = np.load(directory / "scann" / "int8_dataset.npy").astype(np.float32)  # [N, D]
    x /= np.load(directory / "scann" / "int8_multipliers.npy").astype(np.float32)  # [D]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def described_queries(directory: Path, files: list[str]) -> np.ndarray:
    """[Q, D] type descriptions (the query words of `files`) embedded by the index's encoder."""
    from ner_jax.index import Retriever

    words = sorted({w for f in files for w in json.loads(Path(f).read_text()).values()})
    with Retriever.load(directory) as retriever:
        return retriever.encoder.queries(words)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


@functools.cache
def encoder():
    """The default encoder (shipped head), for end-to-end queries; None if its width differs."""
    from ner_jax.detector import NO_DETECTOR
    from ner_jax.index import CorpusEncoder
    from ner_jax.model import DEFAULT_MODEL

    loaded = CorpusEncoder.load(DEFAULT_MODEL, detector=NO_DETECTOR)
    return loaded if loaded.record.dim == FLAGS.dim else None


def descriptions() -> list[str]:
    return sorted({w for f in FLAGS.real_queries for w in json.loads(Path(f).read_text()).values()})


def synthetic_store(path: Path, mentions: int, per_doc: int = 5) -> Path:
    """A store of `mentions` rows, `per_doc` to a document, as the end-to-end path reads."""
    from ner_jax.index import Store

    docs = -(-mentions // per_doc)
    text = " ".join(f"w{i}" for i in range(per_doc))  # mention i is "wi"
    starts = np.array([text.index(f"w{i}") for i in range(per_doc)])
    doc = np.repeat(np.arange(docs), per_doc)[:mentions]
    start = np.tile(starts, docs)[:mentions]
    with Store.create(path) as store:
        store.append(((f"doc{d}", text) for d in range(docs)), doc, start, start + 2)
    return path


def end_to_end_ms(index, store_path: Path) -> tuple[float, float]:
    """p50/p99 ms of Retriever.search(description, k=10) over the descriptions, twice each."""
    from ner_jax.index import Retriever, Store

    with Retriever(store_path.parent, encoder(), index, Store(store_path)) as retriever:
        texts = descriptions() * 2
        return latency_ms(lambda q: retriever.search(str(q[0]), k=10), np.array(texts))


def query_floor() -> dict:
    """What embedding one description must cost here: a query is a few tokens, so its forward
    is bound by reading the decoder's weights once (blocks before the tap, and the tap block
    up to v_proj; an embedding row is all it reads of the table). The floor is the best of 20
    jitted sums over exactly those weights on the query's device; with the measured embed p50."""
    import jax
    import jax.numpy as jnp

    extractor = encoder().extractor
    params, tap = extractor.params_one, extractor.model.tap_block
    weights = [params[f"layers_{i}"] for i in range(tap)]
    weights.append({k: params[f"layers_{tap}"][k] for k in ("input_layernorm", "self_attn")})
    weights[-1]["self_attn"] = {"v_proj": weights[-1]["self_attn"]["v_proj"]}
    read_all = jax.jit(lambda w: sum(jnp.sum(x) for x in jax.tree.leaves(w)))
    read_all(weights).block_until_ready()
    seconds = []
    for _ in range(20):
        started = time.perf_counter()
        read_all(weights).block_until_ready()
        seconds.append(time.perf_counter() - started)
    weight_bytes = sum(x.nbytes for x in jax.tree.leaves(weights))
    embed_p50, _ = latency_ms(lambda q: encoder().queries([str(q[0])]), np.array(descriptions()))
    return {
        "weights_mb": round(weight_bytes / 1e6, 1),
        "weights_read_gb_per_s": round(weight_bytes / min(seconds) / 1e9, 2),
        "embed_floor_ms": round(1000 * min(seconds), 2),
        "embed_p50_ms": embed_p50,
    }


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def latency_ms(search, queries: np.ndarray) -> tuple[float, float]:
    """p50 and p99 ms of search(one query), after FLAGS.warmup untimed queries."""
    for i in range(min(FLAGS.warmup, len(queries))):
        search(queries[i : i + 1])
    ms = []
    for i in range(len(queries)):
        started = time.perf_counter()
        search(queries[i : i + 1])
        ms.append(1000 * (time.perf_counter() - started))
    p50, p99 = np.percentile(ms, [50, 99])
    return round(float(p50), 3), round(float(p99), 3)


def saved_bytes(index, n: int, tmp_dir: str | None) -> float:
    with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
        index.save(Path(tmp) / "idx")
        return round(bytes_on_disk(Path(tmp) / "idx") / n, 1)


def sweep(index, queries: np.ndarray, truth: np.ndarray, k: int, tree: str) -> list[dict]:
    """Recall and latency of one ScaNN tree at other search-time settings."""
    leaves = index.config.sized(len(index))
    base, total = leaves["num_leaves_to_search"], leaves["num_leaves"]
    rows = []
    leaves_searched = [int(x) for x in FLAGS.sweep_leaves] or [base // 2, base, 2 * base, 4 * base]
    per_k = [int(x) for x in FLAGS.sweep_reorder] or [1, 2, 4, 8, 16]
    for searched in sorted({min(total, max(1, x)) for x in leaves_searched}):
        for candidates in (k * x for x in per_k):

            def search(q, searched=searched, candidates=candidates):
                return index.searcher.search_batched(
                    q,
                    final_num_neighbors=k,
                    leaves_to_search=searched,
                    pre_reorder_num_neighbors=candidates,
                )

            ids = np.asarray(search(queries)[0], np.int64)
            p50, p99 = latency_ms(search, queries)
            rows.append(
                {
                    "tree": tree,
                    "leaves_to_search": searched,
                    "num_leaves": total,
                    "pre_reorder": candidates,
                    "recall_at_k": round(recall(ids, truth), 4),
                    "p50_ms": p50,
                    "p99_ms": p99,
                }
            )
    return rows


def measure(row: dict, name: str, index, queries: np.ndarray, truth: np.ndarray | None):
    """Adds name_{recall_at_k, p50_ms, p99_ms, bytes_per_mention} to row."""
    k = row["k"]
    if truth is not None:
        row[f"{name}_recall_at_{k}"] = round(recall(index.search(queries, k)[1], truth), 4)
    p50, p99 = latency_ms(lambda q: index.search(q, k), queries)
    row[f"{name}_p50_ms"], row[f"{name}_p99_ms"] = p50, p99
    row[f"{name}_bytes_per_mention"] = saved_bytes(index, row["n"], FLAGS.tmp_dir)


def bench(
    name: str,
    vectors: np.ndarray,
    queries: np.ndarray,
    config: ScannConfig,
    compare: ScannConfig | None,
    store: Path | None = None,
) -> dict:
    n, k = len(vectors), min(FLAGS.k, len(vectors))
    row = {"data": name, "n": n, "dim": vectors.shape[1], "queries": len(queries), "k": k}
    started = time.perf_counter()
    exact = build_index(vectors, "exact")
    row["exact_build_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    scann = build_index(vectors, "scann", config)
    row["scann_build_s"] = round(time.perf_counter() - started, 2)
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    wide = min(config.reorder_per_k * k, n)  # ScaNN re-scores that many AH candidates
    scores, truth = exact.search(queries, wide)  # [Q, wide]
    truth = truth[:, :k]  # [Q, k]
    # How far the k-th neighbour stands above the last re-scored: a small gap is a hard query.
    row["exact_mean_score_at"] = {r: round(float(scores[:, r - 1].mean()), 4) for r in (1, k, wide)}
    measure(row, "exact", exact, queries, None)
    measure(row, "scann", scann, queries, truth)
    if store is not None:
        for name, index in (("exact", exact), ("scann", scann)):
            row[f"{name}_e2e_p50_ms"], row[f"{name}_e2e_p99_ms"] = end_to_end_ms(index, store)
    if FLAGS.sweep:
        row["sweep"] = sweep(scann, queries, truth, k, "scann")
    if compare is not None:
        del scann  # one ScaNN build's memory at a time
        gc.collect()
        started = time.perf_counter()
        other = build_index(vectors, "scann", compare)
        row["compare_build_s"] = round(time.perf_counter() - started, 2)
        measure(row, "compare", other, queries, truth)
        if FLAGS.sweep:
            row["compare_sweep"] = sweep(other, queries, truth, k, "compare")
    return row


def print_table(rows: list[dict]) -> None:
    print(
        f"{'data':<9} {'N':>9} {'backend':<7} {'build s':>8} {'recall@k':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'B/mention':>9} {'peak RSS MB':>11} {'e2e p50/p99 ms':>15}"
    )
    for r in rows:
        for name in ("exact", "scann", "compare"):
            if f"{name}_build_s" not in r:
                continue
            found = r.get(f"{name}_recall_at_{r['k']}")
            rec = "-" if found is None else f"{found:.4f}"
            rss = "" if name == "compare" else r["peak_rss_mb"]  # taken before that build
            print(
                f"{r['data']:<9} {r['n']:>9} {name:<7} {r[f'{name}_build_s']:>8} "
                f"{rec:>8} {r[f'{name}_p50_ms']:>8} {r[f'{name}_p99_ms']:>8} "
                f"{r[f'{name}_bytes_per_mention']:>9} {rss:>11} "
                f"{r.get(f'{name}_e2e_p50_ms', '-')!s:>7}/{r.get(f'{name}_e2e_p99_ms', '-')!s:<7}"
            )
    for r in rows:
        for s in r.get("sweep", []) + r.get("compare_sweep", []):
            print(
                f"sweep {s['tree']} {r['data']} N={r['n']}:"
                f" leaves {s['leaves_to_search']}/{s['num_leaves']}"
                f" pre_reorder {s['pre_reorder']}: recall {s['recall_at_k']:.4f}"
                f" p50 {s['p50_ms']} ms p99 {s['p99_ms']} ms"
            )


def main(argv):
    del argv
    # A killed run (kill PID) still removes its temp dir: the points file is 6 GB at 1M.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = sorted(int(s) for s in ("10000,100000" if FLAGS.quick else FLAGS.sizes).split(","))
    n_queries = FLAGS.queries or (100 if FLAGS.quick else 200)
    config = config_from_flags(ScannConfig, prefix="scann_")
    compare = override(config, FLAGS.compare, "--compare") if FLAGS.compare else None
    synthetic = Synthetic(FLAGS.dim, FLAGS.head_dim, FLAGS.clusters, FLAGS.seed)
    queries = synthetic.queries(n_queries)  # [Q, D]
    rows = []
    with tempfile.TemporaryDirectory(dir=FLAGS.tmp_dir) as tmp:
        # File-backed, as load_index maps exact vectors: under memory pressure (ScaNN's build
        # copies the rows and more) the kernel can drop these pages instead of running out.
        if FLAGS.synthetic:
            vectors = np.lib.format.open_memmap(
                Path(tmp) / "points.npy", "w+", np.float32, (sizes[-1], FLAGS.dim)
            )  # [N_max, D]; the sizes are prefixes of it (views, no copies)
            synthetic.points(vectors)
            store = None
            if FLAGS.end_to_end and encoder() is not None:
                store = synthetic_store(Path(tmp) / "store.sqlite", sizes[-1])
            rows = [bench("synthetic", vectors[:n], queries, config, compare, store) for n in sizes]
            del vectors
            gc.collect()
    if FLAGS.index:
        real = real_vectors(Path(FLAGS.index))  # [N, D]
        if (Path(FLAGS.index) / "encoder.json").is_file() and FLAGS.real_queries:
            real_queries = described_queries(Path(FLAGS.index), FLAGS.real_queries)
        else:
            rng = np.random.default_rng([FLAGS.seed, 3])
            picked = real[rng.choice(len(real), min(n_queries, len(real)), replace=False)]
            noise = rng.standard_normal(picked.shape, dtype=np.float32)
            noise *= FLAGS.real_noise / math.sqrt(real.shape[1])
            real_queries = picked + noise
            real_queries /= np.linalg.norm(real_queries, axis=1, keepdims=True)
        store = Path(FLAGS.index) / "store.sqlite"
        use_store = FLAGS.end_to_end and store.is_file() and encoder() is not None
        store = store if use_store else None
        rows.append(bench("real", real, real_queries, config, compare, store))
        del real
    print_table(rows)
    floor = query_floor() if FLAGS.end_to_end and encoder() is not None else None
    if floor:
        print(
            f"query embed: p50 {floor['embed_p50_ms']} ms; floor {floor['embed_floor_ms']} ms ="
            f" {floor['weights_mb']} MB of weights read at {floor['weights_read_gb_per_s']} GB/s"
        )
    if FLAGS.out:
        synth = [r for r in rows if r["data"] == "synthetic"]
        at_1m = next((r for r in synth if r["n"] == 1_000_000), None)
        largest = (synth or rows)[-1]
        result = {
            "scann_recall_at_100_1m": at_1m and at_1m.get("scann_recall_at_100"),
            "query_p50_ms_1m": at_1m and at_1m.get("scann_e2e_p50_ms", at_1m["scann_p50_ms"]),
            "query_p99_ms_1m": at_1m and at_1m.get("scann_e2e_p99_ms", at_1m["scann_p99_ms"]),
            "query_latency": "end to end" if FLAGS.end_to_end else "search only",
            "scann_search_p50_ms_1m": at_1m and at_1m["scann_p50_ms"],
            "query_floor": floor,
            "index_bytes_per_mention": largest["scann_bytes_per_mention"],
            "index_peak_rss_mb": largest["peak_rss_mb"],
            "scann_config": dataclasses.asdict(config),
            "compare_config": compare and dataclasses.asdict(compare),
            "data": {
                "dim": FLAGS.dim,
                "head_dim": FLAGS.head_dim,
                "clusters": FLAGS.clusters,
                "zipf": FLAGS.zipf,
                "domains": FLAGS.domains,
                "centre_shared": FLAGS.centre_shared,
                "centre_domain": FLAGS.centre_domain,
                "point_noise": FLAGS.point_noise,
                "query_noise": FLAGS.query_noise,
                "queries": n_queries,
                "seed": FLAGS.seed,
                "index": FLAGS.index,
            },
            "rows": rows,
        }
        Path(FLAGS.out).parent.mkdir(parents=True, exist_ok=True)
        Path(FLAGS.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    run_launcher(main)
