"""The projection head in numpy, the reference tests check ProjectionHead and Head.project by."""

from __future__ import annotations

import numpy as np


def unit(x) -> np.ndarray:
    """Each row scaled to unit L2 norm."""
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def project(params: dict, x: np.ndarray) -> np.ndarray:
    """unit(fc2(SiLU(fc1(x)))): a head without skip or reduction, dropout off."""
    fc1, fc2 = params["fc1"], params["fc2"]
    h = x @ np.asarray(fc1["kernel"]) + np.asarray(fc1["bias"])
    h = (h / (1 + np.exp(-h))) @ np.asarray(fc2["kernel"]) + np.asarray(fc2["bias"])
    return unit(h)
