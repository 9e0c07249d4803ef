"""Head inputs: mention_inputs equals corpus_features' store and reads no further than needed."""

from __future__ import annotations

import numpy as np


def test_in_memory_head_inputs_equal_the_feature_store_path(eval_corpus, tmp_path):
    """`mention_inputs` (demo, small corpora) and `corpus_features` (benchmarks) agree."""
    from ner_jax.data.benchmark import build_benchmark
    from ner_jax.features.extractor import FeatureExtractor
    from ner_jax.features.inputs import InputSpec, corpus_features, mention_inputs
    from ner_jax.model.loaded import load_model

    root, model = eval_corpus
    spec = InputSpec(("v@1", "attn@2"), sentence_end=True)
    extractor = FeatureExtractor(load_model(model, 2), spec.components, spec.blocks)
    bench = build_benchmark([str(root / "a.txt"), str(root / "b.txt")])
    stored = corpus_features(extractor, bench, tmp_path, progress=False)
    texts = [d.text for d in bench.documents]
    spans = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    inputs, kept = mention_inputs(extractor, texts, spans, spec)
    assert kept.all() and inputs.shape == (11, spec.width(extractor.model.config))
    np.testing.assert_allclose(inputs, stored.inputs(spec), rtol=1e-6, atol=1e-6)


def test_without_sentence_ends_the_forward_stops_at_each_texts_last_mention(eval_corpus, tmp_path):
    """A head that reads no sentence ends never runs the decoder past a text's last mention,
    and words after it change nothing (the decoder is causal)."""
    from ner_jax.data.benchmark import build_benchmark
    from ner_jax.features.extractor import FeatureExtractor
    from ner_jax.features.inputs import InputSpec, corpus_features, mention_inputs
    from ner_jax.model.loaded import load_model

    root, model = eval_corpus
    spec = InputSpec(("v@1", "attn@2"), sentence_end=False)
    extractor = FeatureExtractor(load_model(model, 2), spec.components, spec.blocks)
    bench = build_benchmark([str(root / "a.txt"), str(root / "b.txt")])
    stored = corpus_features(extractor, bench, tmp_path, progress=False)
    texts = [d.text + " and more words after it" for d in bench.documents]
    spans = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    read, original = [], extractor._read
    extractor._read = lambda ids, *rest: read.append([len(i) for i in ids]) or original(ids, *rest)
    inputs, kept = mention_inputs(extractor, texts, spans, spec)
    whole = [len(i) for i in extractor.encode(texts)[0]]
    # The fixture's texts end with a mention, so their own tokens are the ones up to it.
    to_last_mention = [len(i) for i in extractor.encode([d.text for d in bench.documents])[0]]
    assert read == [to_last_mention] and sum(to_last_mention) < sum(whole)
    assert kept.all()
    np.testing.assert_allclose(inputs, stored.inputs(spec), rtol=1e-6, atol=1e-6)


def test_a_context_spec_ends_each_mention_with_its_texts_mean_in_memory_and_in_the_store(
    eval_corpus, tmp_path
):
    """spec.context appends each tap averaged over the mention's whole text, the start token
    left out; mention_inputs (index) and corpus_features (evaluation) agree."""
    from ner_jax.data.benchmark import build_benchmark
    from ner_jax.features.extractor import FeatureExtractor
    from ner_jax.features.inputs import InputSpec, corpus_features, mention_inputs
    from ner_jax.model.loaded import load_model

    root, model = eval_corpus
    spec = InputSpec(("v@1", "attn@2"), sentence_end=True, context=True)
    plain = InputSpec(("v@1", "attn@2"), sentence_end=True)
    extractor = FeatureExtractor(load_model(model, 2), spec.components, spec.blocks)
    bench = build_benchmark([str(root / "a.txt"), str(root / "b.txt")])
    texts = [d.text for d in bench.documents]
    spans = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    inputs, kept = mention_inputs(extractor, texts, spans, spec)
    config = extractor.model.config
    assert kept.all() and inputs.shape == (11, spec.width(config))
    stored = corpus_features(extractor, bench, tmp_path, progress=False)
    np.testing.assert_allclose(inputs, stored.inputs(spec), rtol=1e-6, atol=1e-6)
    # The rest of the inputs are the spec without context's.
    without, _ = mention_inputs(extractor, texts, spans, plain)
    np.testing.assert_allclose(inputs[:, : plain.width(config)], without, rtol=1e-5, atol=1e-6)
    # By hand: every token after the start token, averaged.
    per_text, offsets = extractor.all_tokens(texts)
    assert all((o[0] == 0).all() and (o[1:, 1] > o[1:, 0]).all() for o in offsets)
    docs = [d for d, s in enumerate(spans) for _ in s]
    blocks = list(extractor.blocks)
    expected = np.concatenate(
        [
            np.stack([per_text[d][c][blocks.index(b), 1:].mean(axis=0) for d in docs])
            for c, b in spec.parsed
        ],
        axis=1,
    )
    np.testing.assert_allclose(inputs[:, plain.width(config) :], expected, rtol=1e-5, atol=1e-6)
