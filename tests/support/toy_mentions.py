"""Toy mentions for head training: well-separated random types, each with an anchor."""

from __future__ import annotations

import numpy as np

from ner_jax.head.mentions import MentionSet


def toy_mentions(seed: int = 0, types: int = 6, per_type: int = 10, width: int = 12):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(types, width))
    labels = np.repeat(np.arange(types), per_type).astype(np.int32)
    return MentionSet(
        inputs=(centres[labels] + 0.3 * rng.normal(size=(len(labels), width))).astype(np.float32),
        types=labels,
        docs=np.arange(len(labels)),
        type_names=[f"t{i}" for i in range(types)],
        anchors=(centres + 0.3 * rng.normal(size=centres.shape)).astype(np.float32),
        files={},
    )
