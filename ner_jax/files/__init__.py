"""Writing files safely (temp path, then rename) and the small weight files the package ships."""

from ner_jax.files.dirs import swap_in
from ner_jax.files.weights import ASSETS, load_params, save_params, shipped_weights

__all__ = [
    "ASSETS",
    "load_params",
    "save_params",
    "shipped_weights",
    "swap_in",
]
