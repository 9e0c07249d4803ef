"""Fewer dimensions that keep inner products: the rows' top uncentred principal directions."""

from __future__ import annotations

import numpy as np

_FIT_CHUNK = 65_536  # rows per X^T X update: a [chunk, D] float64 block (~800 MB at D=1524)


def fit_projection(vectors: np.ndarray, dims: int, sample: int, seed: int = 0) -> np.ndarray:
    """[D, dims] float32 orthonormal columns: the top eigenvectors of X^T X over (a sample of
    at most `sample` of) the rows X [N, D].

    Uncentred on purpose: a search scores q . x, and x = U U^T x + r with r orthogonal to U
    gives q . x = (U^T q) . (U^T x) + q . r, so what a projection loses is bounded by the energy
    of x outside U, which the uncentred second moment's top directions minimise on average.
    The shared mean direction of contextual embeddings is simply the first column.
    """
    n, dim = vectors.shape
    if not 0 < dims < dim:
        raise ValueError(f"dims must be in 1..{dim - 1} for {dim}-d rows, got {dims}")
    rows = np.arange(n)
    if n > sample:
        rows = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    moment = np.zeros((dim, dim), np.float64)  # [D, D]
    for start in range(0, len(rows), _FIT_CHUNK):
        x = np.asarray(vectors[rows[start : start + _FIT_CHUNK]], np.float64)  # [c, D]
        moment += x.T @ x
    _, vecs = np.linalg.eigh(moment)  # eigenvalues ascending
    top = vecs[:, ::-1][:, :dims]  # [D, dims]
    # eigh's signs are arbitrary; fix them so the same rows give the same projection anywhere.
    top *= np.where(top[np.abs(top).argmax(0), np.arange(dims)] < 0, -1.0, 1.0)
    return np.ascontiguousarray(top, np.float32)


def kept_energy(vectors: np.ndarray, projection: np.ndarray) -> float:
    """Share of the rows' squared norm that the projection keeps (1: nothing lost)."""
    kept = vectors @ projection  # [N, dims]
    return float(np.einsum("nd,nd->", kept, kept) / np.einsum("nd,nd->", vectors, vectors))
