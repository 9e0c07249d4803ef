"""Safe file writes (temp, then rename), shipped weight files, torch state dicts without torch."""

from ner_jax.files.dirs import swap_in
from ner_jax.files.torch_pickle import UnsafePickle, read_state_dict
from ner_jax.files.weights import ASSETS, load_params, save_params, shipped_weights

__all__ = [
    "ASSETS",
    "UnsafePickle",
    "load_params",
    "read_state_dict",
    "save_params",
    "shipped_weights",
    "swap_in",
]
