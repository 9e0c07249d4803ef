"""The vector index: exact top-k, ScaNN recall, persistence, atomic saves, add() and validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.reference_head import unit

from ner_jax.index import vectors as vi
from ner_jax.index.vectors import ScannConfig, build_index, bytes_on_disk, load_index

N, D = 5000, 64


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """[n, dim] unit vectors around 40 random centres: neighbours are real, not noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(0, 40, n)] + 0.7 * rng.normal(size=(n, dim))
    return unit(x).astype(np.float32)


def near(x: np.ndarray, q: int, seed: int = 1) -> np.ndarray:
    """[q, D] queries: perturbed database rows."""
    rng = np.random.default_rng(seed)
    rows = x[rng.integers(0, len(x), q)] + 0.1 * rng.normal(size=(q, x.shape[1]))
    return unit(rows).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def assert_same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    """Two (scores, ids) search results are bit-identical."""
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return clustered(N, D)


@pytest.fixture(scope="module")
def scann_index(data):
    return build_index(data, backend="scann")


def test_exact_top_k_equals_naive_argsort_across_chunks(monkeypatch):
    # Chunks smaller than the data, so the running top-k merge is what is being tested.
    monkeypatch.setattr(vi, "_QUERY_CHUNK", 7)
    monkeypatch.setattr(vi, "_DB_CHUNK", 300)
    x = clustered(2000, 32)
    q = near(x, 50)
    scores, ids = build_index(x, backend="exact").search(q, 10)
    full = q @ x.T
    truth = np.argsort(-full, axis=1)[:, :10]
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(ids, truth)
    np.testing.assert_allclose(scores, np.take_along_axis(full, truth, 1), rtol=1e-5)


def test_short_rows_are_padded_with_minus_one_and_minus_inf():
    x = clustered(20, 32)
    for backend in ("exact", "scann"):
        scores, ids = build_index(x, backend=backend).search(x[:2], 30)
        assert ids.shape == scores.shape == (2, 30)
        assert (ids[:, 20:] == -1).all() and np.isneginf(scores[:, 20:]).all(), backend
        assert sorted(ids[0, :20]) == list(range(20)), backend


def test_scann_recall_at_10_vs_exact_is_at_least_095(data, scann_index):
    q = near(data, 300)
    _, truth = build_index(data, backend="exact").search(q, 10)
    scores, ids = scann_index.search(q, 10)
    assert scann_index.backend == "scann" and len(scann_index) == N
    assert recall(ids, truth) >= 0.95
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_scann_on_disk_is_about_1_5_bytes_per_dim(tmp_path, scann_index):
    # int8 reordering data (D) + AH codes (D/2) + leaf id (4) + a fixed ~50 KB.
    scann_index.save(tmp_path / "idx")
    per_vector = bytes_on_disk(tmp_path / "idx") / N
    assert 1.5 * D + 4 <= per_vector <= 1.5 * D + 4 + 60_000 / N
    assert not list((tmp_path / "idx" / "scann").glob("dataset.npy"))  # no float32 copy


def test_auto_backend_is_exact_below_threshold_and_scann_above(monkeypatch):
    x = clustered(1000, 32)
    assert build_index(x).backend == "exact"
    monkeypatch.setattr(vi, "AUTO_EXACT_BELOW", 500)
    assert build_index(x).backend == "scann"


def test_scann_tree_is_sized_by_corpus():
    config = ScannConfig()
    assert config.sized(5000) == dict(  # fewer rows than min_rows_to_search: every leaf
        num_leaves=71, num_leaves_to_search=71, training_sample_size=5000
    )
    assert config.sized(100_000) == dict(  # 25,000 rows' worth of 316 leaves of ~316 rows
        num_leaves=316, num_leaves_to_search=79, training_sample_size=100_000
    )
    assert config.sized(1_000_000) == dict(  # 15% of the leaves
        num_leaves=1000, num_leaves_to_search=150, training_sample_size=250_000
    )
    assert config.sized(10**8)["num_leaves"] == 2000


@pytest.mark.parametrize("backend", ["exact", "scann"])
def test_save_load_round_trip_gives_identical_results(tmp_path, data, scann_index, backend):
    index = scann_index if backend == "scann" else build_index(data, backend="exact")
    index.save(tmp_path / "idx")
    loaded = load_index(tmp_path / "idx")
    assert (loaded.backend, len(loaded), loaded.dim) == (backend, N, D)
    q = near(data, 100)
    assert_same(index.search(q, 10), loaded.search(q, 10))
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert (meta["format"], meta["backend"], meta["count"], meta["dim"]) == (1, backend, N, D)


def test_exact_add_equals_building_on_all_rows(data):
    old, new = data[:4000], data[4000:]
    index = build_index(old, backend="exact")
    grown = index.add(new)
    assert len(index) == 4000 and len(grown) == N
    q = near(data, 100)
    assert_same(grown.search(q, 10), build_index(data, backend="exact").search(q, 10))


def test_scann_add_after_load_finds_new_rows_with_continuing_ids(tmp_path, data):
    old, new = data[:4000], data[4000:]
    build_index(old, backend="scann").save(tmp_path / "idx")
    index = load_index(tmp_path / "idx")
    grown = index.add(new)  # no old vectors passed: rebuilt from the stored int8 data
    assert len(index) == 4000 and len(grown) == N and grown.backend == "scann"
    _, ids = grown.search(new[:200], 1)
    assert np.mean(ids[:, 0] == np.arange(4000, 4200)) >= 0.99
    _, ids = grown.search(old[:200], 1)
    assert np.mean(ids[:, 0] == np.arange(200)) >= 0.99
    q = near(data, 200)
    assert recall(grown.search(q, 10)[1], build_index(data, "exact").search(q, 10)[1]) >= 0.95


@pytest.mark.parametrize("backend", ["exact", "scann"])
def test_failed_save_leaves_previous_index_intact(tmp_path, monkeypatch, backend):
    x = clustered(600, 32)
    build_index(x[:300], backend=backend).save(tmp_path / "idx")
    expected = load_index(tmp_path / "idx").search(x[:20], 5)

    def crash(directory, meta):
        raise OSError("disk full")

    monkeypatch.setattr(vi, "_write_meta", crash)  # after the arrays, before the rename
    with pytest.raises(OSError, match="disk full"):
        build_index(x[300:], backend=backend).save(tmp_path / "idx")
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # the temp dir was removed
    loaded = load_index(tmp_path / "idx")
    assert len(loaded) == 300
    assert_same(expected, loaded.search(x[:20], 5))


def test_save_replaces_an_existing_index_and_removes_the_old_one(tmp_path):
    x = clustered(600, 32)
    build_index(x[:300], backend="exact").save(tmp_path / "idx")
    build_index(x, backend="exact").save(tmp_path / "idx")
    assert len(load_index(tmp_path / "idx")) == 600
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]


def test_save_refuses_to_replace_a_directory_that_is_not_an_index(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a vector index"):
        build_index(clustered(10, 32)).save(tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


BAD_VECTORS = [
    (np.ones(32, np.float32), "2-D"),
    (np.zeros((0, 32), np.float32), "zero rows"),
    (np.full((3, 32), np.nan, np.float32), "NaN or inf"),
    (np.full((3, 32), np.inf, np.float32), "NaN or inf"),
    (np.ones((3, 32), np.float32), "not L2-normalised"),
]


@pytest.mark.parametrize("vectors,message", BAD_VECTORS)
def test_build_rejects_bad_vectors(vectors, message):
    with pytest.raises(ValueError, match=message):
        build_index(vectors)


def test_search_and_add_reject_bad_inputs():
    index = build_index(clustered(10, 32))
    with pytest.raises(ValueError, match="dimension 16, the index has dimension 32"):
        index.search(clustered(2, 16), 3)
    with pytest.raises(ValueError, match="dimension 16, the index has dimension 32"):
        index.add(clustered(2, 16))
    with pytest.raises(ValueError, match="k must be positive, got 0"):
        index.search(clustered(2, 32), 0)
    with pytest.raises(ValueError, match="NaN or inf"):
        index.search(np.full((1, 32), np.nan), 3)
    with pytest.raises(ValueError, match="scann backend needs at least 16 rows, got 10"):
        build_index(clustered(10, 32), backend="scann")
    with pytest.raises(ValueError, match="backend must be one of"):
        build_index(clustered(10, 32), backend="faiss")


def test_load_rejects_non_index_and_other_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a vector index"):
        load_index(tmp_path)
    build_index(clustered(10, 32)).save(tmp_path / "idx")
    meta_path = tmp_path / "idx" / "index.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "format": 99}))
    with pytest.raises(ValueError, match="index format 99, expected 1"):
        load_index(tmp_path / "idx")


def test_load_after_interrupted_swap_names_the_parked_index(tmp_path):
    (tmp_path / ".idx.old-1234abcd").mkdir()
    with pytest.raises(FileNotFoundError, match=r"previous index is at .*\.idx\.old-1234abcd"):
        load_index(tmp_path / "idx")
