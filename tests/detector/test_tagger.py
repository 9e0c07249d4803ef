"""The tagger network: each token's tags read exactly its context window."""

from __future__ import annotations

import jax
import numpy as np

from ner_jax.detector.tagger import MentionTagger


def test_tagger_reads_exactly_its_window():
    module = MentionTagger(hidden=8, context=(1, 2), dropout=0.0)
    x = np.random.default_rng(0).normal(size=(1, 10, 5)).astype(np.float32)
    params = module.init(jax.random.key(0), x)["params"]
    base = np.asarray(module.apply({"params": params}, x))
    for moved in range(10):
        y = x.copy()
        y[0, moved] += 1.0
        changed = np.abs(np.asarray(module.apply({"params": params}, y)) - base).max(-1)[0] > 0
        assert np.flatnonzero(changed).tolist() == [
            t for t in range(10) if moved - 2 <= t <= moved + 1
        ]
