"""fit_projection: the top principal directions, with fixed signs, and the energy they keep."""

from __future__ import annotations

import numpy as np
import pytest


def test_fit_projection_finds_the_top_directions_with_fixed_signs():
    from ner_jax.head.reduction import fit_projection, kept_energy

    rng = np.random.default_rng(3)
    scales = np.array([5.0, 3.0, 1.0, 0.1, 0.01])
    basis = np.linalg.qr(rng.normal(size=(5, 5)))[0]  # orthonormal columns
    z = np.linalg.qr(rng.normal(size=(2000, 5)))[0]  # orthonormal columns: X^T X is exact
    x = (z * scales) @ basis.T  # [N, 5] with X^T X = basis diag(scales^2) basis^T
    p = fit_projection(x, 2, sample=2000)
    np.testing.assert_allclose(np.abs(p.T @ basis[:, :2]), np.eye(2), atol=1e-5)
    np.testing.assert_array_equal(p, fit_projection(-x, 2, sample=2000))  # signs fixed
    assert kept_energy(x, p) == pytest.approx(34 / 35.0101, rel=1e-5)
    sampled = fit_projection(x, 2, sample=500)  # a sample finds the same plane
    np.testing.assert_allclose(np.linalg.svd(sampled.T @ p)[1], 1.0, atol=1e-2)
    with pytest.raises(ValueError, match="dims must be in 1..4"):
        fit_projection(x, 5, sample=10)
