"""The resumable on-disk feature store."""

from __future__ import annotations

import pytest
from support.reference import relative_error
from support.tiny_models import SHORT_SPANS, SHORT_TEXTS

from ner_jax.features.extractor import FeatureExtractor
from ner_jax.features.store import FeatureStore, extract_to_store


class Interrupted(Exception):
    pass


def test_store_resumes_after_a_kill_without_duplicates(tiny, tmp_path):
    texts, spans = SHORT_TEXTS * 3, SHORT_SPANS * 3
    extractor = FeatureExtractor(tiny, components=("v", "resid_out"), blocks=(1, 2))
    calls = []

    def dying(*args, **kwargs):
        if len(calls) == 2:
            raise Interrupted
        calls.append(len(args[0]))
        return extractor(*args, **kwargs)

    class Dying:  # the real extractor, killed while encoding its third shard
        def __getattr__(self, name):
            return getattr(extractor, name)

        __call__ = staticmethod(dying)

    with pytest.raises(Interrupted):
        extract_to_store(Dying(), texts, spans, tmp_path, shard_docs=4, progress=False)
    assert sorted(p.name for p in (tmp_path / "shards").glob("*.npz")) == ["00000.npz", "00001.npz"]
    assert not (tmp_path / "meta.json").exists()
    calls.clear()
    store = extract_to_store(Dying(), texts, spans, tmp_path, shard_docs=4, progress=False)
    assert calls == [4, 3]  # only the two unfinished shards were encoded
    fresh, kept = extractor(texts, spans)
    assert store.meta["mentions"] == len(kept) == 24
    for name in ("v", "resid_out"):
        for i, block in enumerate((1, 2)):
            assert relative_error(store.get(name, block), fresh[name][i]) <= 1e-5
    assert not (tmp_path / "shards").exists()
    # A finished store is reused as is; a different corpus replaces it.
    calls.clear()
    assert extract_to_store(Dying(), texts, spans, tmp_path, progress=False).meta == store.meta
    assert calls == []
    other = extract_to_store(Dying(), SHORT_TEXTS, SHORT_SPANS, tmp_path, progress=False)
    assert other.meta["mentions"] == 8
    with pytest.raises(KeyError, match="not q at block 1"):
        other.get("q", 1)
    with pytest.raises(FileNotFoundError, match="not a finished feature store"):
        FeatureStore(tmp_path / "nowhere")
