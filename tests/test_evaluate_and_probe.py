"""`ner-jax evaluate` and `ner-jax probe` end to end on a tiny model and a tiny corpus."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from cli import run_cli
from tiny_models import WORDS, tiny_bert, tiny_checkpoint, tiny_detector

from ner_jax.benchmark import build_benchmark
from ner_jax.detected_mentions import detect_mentions
from ner_jax.detector import load_detector
from ner_jax.detector_tags import span_scores
from ner_jax.evaluate import EvaluateConfig, evaluate
from ner_jax.features import FeatureExtractor
from ner_jax.metrics import best_mention_scores, evaluate_rankings, rank
from ner_jax.models import load_model
from ner_jax.probe import ProbeConfig, probe

CORPUS_A = """the\tO
castle\tB-building
in\tO
edinburgh\tB-city

python\tB-language
and\tO
rust\tB-language

insulin\tB-protein
and\tO
keratin\tB-protein

the\tO
castle\tB-building
in\tO
edinburgh\tB-city
"""
CORPUS_B = """curie\tB-scientist
visited\tO
paris\tB-city

the\tO
palace\tB-building
in\tO
lisbon\tB-city
and\tO
ajax\tB-misc

the\tO
castle\tB-building
in\tO
edinburgh\tB-city
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    (root / "a.txt").write_text(CORPUS_A)
    (root / "b.txt").write_text(CORPUS_B)
    tiny_bert(root / "bert", WORDS[3:])
    return root, str(tiny_checkpoint(root / "model"))


def test_evaluate_writes_reports_that_rescore_from_the_rankings(setup):
    root, model = setup
    data = (str(root / "a.txt"), str(root / "b.txt"))
    config = EvaluateConfig(
        data=data,
        out=str(root / "out"),
        systems=("bm25", "minilm", "minilm_mentions", "raw"),
        model=model,
        tap_block=2,
        raw_taps=("1", "attn@2"),
        minilm=str(root / "bert"),
    )
    report = evaluate(config)
    corpus = report["corpus"]
    # 7 sentences, 2 duplicates of "the castle in edinburgh": 5 documents; misc is no query.
    assert corpus["documents"] == 5 and corpus["mentions"] == 11
    assert [q["type"] for q in corpus["queries"]] == [
        "building",
        "city",
        "language",
        "protein",
        "scientist",
    ]
    assert set(report["systems"]) == {
        "bm25",
        "minilm",
        "minilm_mentions",
        "raw",
        "raw-v1",
        "raw-attn2",
    }
    relevant = {q["type"]: q["relevant"] for q in corpus["queries"]}
    assert relevant == {"building": 2, "city": 3, "language": 1, "protein": 1, "scientist": 1}
    for name, result in report["systems"].items():
        lines = [json.loads(x) for x in (root / "out/rankings" / f"{name}.jsonl").open()]
        assert [x["type"] for x in lines] == list(relevant)
        ids = sorted({i for x in lines for i in x["ranking"]})
        assert set(ids) <= {
            f"{data[0]}:0",
            f"{data[0]}:1",
            f"{data[0]}:2",
            f"{data[1]}:0",
            f"{data[1]}:1",
        }  # the duplicates keep the id of the first one
        # Anyone can re-score: relevant ids from the labels, rankings from the files.
        gold = {
            "building": {f"{data[0]}:0", f"{data[1]}:1"},
            "city": {f"{data[0]}:0", f"{data[1]}:0", f"{data[1]}:1"},
            "language": {f"{data[0]}:1"},
            "protein": {f"{data[0]}:2"},
            "scientist": {f"{data[1]}:0"},
        }
        rescored = evaluate_rankings(
            [x["ranking"] for x in lines], [sorted(gold[x["type"]]) for x in lines]
        )
        assert rescored["r_precision"] == pytest.approx(result["r_precision"]), name
    assert "| raw | " in (root / "out/report.md").read_text()


def test_evaluate_with_detected_spans(setup, tmp_path):
    root, model = setup
    detector = tiny_detector(tmp_path / "names", model)
    data = (str(root / "a.txt"), str(root / "b.txt"))
    config = EvaluateConfig(
        data=data,
        out=str(tmp_path / "out"),
        systems=("bm25", "raw"),
        model=model,
        tap_block=2,
        spans="detected",
        detector=str(detector),
    )
    report = evaluate(config)
    bench = build_benchmark(data, None, False)
    texts = [d.text for d in bench.documents]
    extractor = FeatureExtractor(load_model(model, 2), ("resid_in", "v"), (0, 2))
    found = detect_mentions(extractor, load_detector(detector), texts)
    gold = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    assert report["spans"] == "detected" and report["detector"]["mentions"] == len(found.docs)
    assert report["detector"]["f1"] == pytest.approx(span_scores(found.spans, gold)["f1"])
    assert report["detector"]["f1"] > 0.5  # the names are found; "castle" is not a name
    # The raw system ranks by the detected mentions' v@2 against the type names.
    mentions = found.mention["v", 2]
    unit = mentions / np.linalg.norm(mentions, axis=1, keepdims=True)
    queries = extractor.embed_queries([q.text for q in bench.queries])["v"][1]
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = best_mention_scores(queries @ unit.T, found.docs, len(texts))
    relevant = [q.relevant for q in bench.queries]
    by_hand = evaluate_rankings(rank(scores, 0), relevant)["r_precision"]
    assert report["systems"]["raw"]["r_precision"] == pytest.approx(by_hand)
    assert "Model systems read detected spans" in (tmp_path / "out" / "report.md").read_text()
    with pytest.raises(ValueError, match="minilm_mentions embeds gold mention strings"):
        evaluate(dataclasses.replace(config, systems=("minilm_mentions",)))


def test_head_system_ranks_by_projected_mentions_and_sentence_ends(setup, tmp_path):
    """`head` = best-mention cosine of projected [mention tap, sentence-end tap] inputs; checked
    against the features and the head applied by hand; fusion and seen/unseen splits run."""
    import jax

    from ner_jax.features import FeatureExtractor
    from ner_jax.head import ProjectionHead
    from ner_jax.head_file import save_head
    from ner_jax.metrics import rank
    from ner_jax.models import load_model

    root, model = setup
    from ner_jax.head_inputs import InputSpec

    width = InputSpec(("v@1", "attn@2"), True).width(load_model(model, 2).config)
    module = ProjectionHead(12, 6, 0.1)
    params = module.init(jax.random.key(0), np.zeros((1, width)))["params"]
    record = {
        "model": model,
        "taps": ["v@1", "attn@2"],
        "sentence_end": True,
        "hidden": 12,
        "out": 6,
        "dropout": 0.1,
    }
    path = save_head(tmp_path / "h.safetensors", params, record)
    (tmp_path / "seen.json").write_text(json.dumps(["city", "building"]))
    data = (str(root / "a.txt"), str(root / "b.txt"))
    report = evaluate(
        EvaluateConfig(
            data=data,
            out=str(tmp_path / "out"),
            systems=("bm25", "head"),
            model=model,
            heads=(str(path), f"again={path}"),
            fuse=("head+bm25",),
            seen_types=str(tmp_path / "seen.json"),
        )
    )
    systems = report["systems"]
    assert set(systems) == {"bm25", "head", "head-again", "head+bm25"}
    assert systems["head"]["r_precision"] == systems["head-again"]["r_precision"]
    # By hand: documents, their mention and end activations, the head in numpy.
    texts = [
        "the castle in edinburgh",
        "python and rust",
        "insulin and keratin",
        "curie visited paris",
        "the palace in lisbon and ajax",
    ]
    spans = [
        [(4, 10), (14, 23)],
        [(0, 6), (11, 15)],
        [(0, 7), (12, 19)],
        [(0, 5), (14, 19)],
        [(4, 10), (14, 20), (25, 29)],
    ]
    extractor = FeatureExtractor(load_model(model, 2), ("attn", "v"), (1, 2))
    feats, _ = extractor(texts, [s + [(0, len(t))] for t, s in zip(texts, spans, strict=True)])
    queries = extractor.embed_queries(["building", "city", "language", "protein", "scientist"])

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def project(x):
        h = x @ params["fc1"]["kernel"] + params["fc1"]["bias"]
        return unit((h / (1 + np.exp(-h))) @ params["fc2"]["kernel"] + params["fc2"]["bias"])

    rows = [(d, i) for d, s in enumerate(spans) for i in range(len(s))]
    starts = np.cumsum([0] + [len(s) + 1 for s in spans])
    mention = [starts[d] + i for d, i in rows]
    end = [starts[d] + len(spans[d]) for d, _ in rows]
    v1, attn2 = feats["v"][0], feats["attn"][1]
    m = np.concatenate(
        [unit(v1[mention]), unit(attn2[mention]), unit(v1[end]), unit(attn2[end])], 1
    )
    q = np.concatenate([unit(queries["v"][0]), unit(queries["attn"][1])] * 2, 1)
    sims = project(q) @ project(m).T
    scores = np.full((5, 5), -np.inf)
    for j, (d, _) in enumerate(rows):
        scores[:, d] = np.maximum(scores[:, d], sims[:, j])
    lines = [json.loads(x) for x in (tmp_path / "out/rankings/head.jsonl").open()]
    ids = [f"{data[0]}:0", f"{data[0]}:1", f"{data[0]}:2", f"{data[1]}:0", f"{data[1]}:1"]
    for line, expected in zip(lines, rank(scores, 0), strict=True):
        assert line["ranking"] == [ids[i] for i in expected]
    for result in systems.values():
        assert 0 <= result["unseen_r_precision"] <= 1 and 0 <= result["seen_r_precision"] <= 1
    assert "unseen types" in (tmp_path / "out/report.md").read_text()


def test_evaluate_command_line(setup, tmp_path):
    root, model = setup
    args = ["evaluate", "--data", root / "a.txt", "--model", model, "--tap_block", "1"]
    result = run_cli(*args, "--systems", "bm25,raw", "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| bm25 |" in result.stdout and (tmp_path / "report.json").is_file()
    bad = run_cli(*args, "--systems", "bm26", "--out", tmp_path / "x")
    assert bad.returncode != 0 and "unknown systems ['bm26']" in bad.stderr


def test_probe_scores_every_block_and_component(setup):
    root, model = setup
    report = probe(
        ProbeConfig(
            data=(str(root / "a.txt"), str(root / "b.txt")),
            out=str(root / "probe"),
            model=model,
            pairs=500,
        )
    )
    assert set(report["table"]) == {"q", "k", "v", "attn", "mlp", "resid_in", "resid_out"}
    for rows in report["table"].values():
        assert [r["block"] for r in rows] == [0, 1, 2, 3]
        assert all(0 <= r["r_precision"] <= 1 and 0 <= r["pair_auc"] <= 1 for r in rows)
    assert (root / "probe/probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((root / "probe/probe.json").read_text())
    assert saved["best"] == report["best"]
    assert np.isclose(
        max(r["r_precision"] for rows in report["table"].values() for r in rows),
        report["best"]["r_precision"],
    )


def test_probe_command_line(setup, tmp_path):
    root, model = setup
    result = run_cli(
        "probe",
        "--data",
        root / "a.txt",
        "--model",
        model,
        "--components",
        "v,resid_out",
        "--pairs",
        "200",
        "--out",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best: " in result.stdout and (tmp_path / "probe.png").is_file()
    table = json.loads((tmp_path / "probe.json").read_text())["table"]
    assert sorted(table) == ["resid_out", "v"]


def test_in_memory_head_inputs_equal_the_feature_store_path(setup, tmp_path):
    """`mention_inputs` (demo, small corpora) and `corpus_features` (benchmarks) agree."""
    from ner_jax.benchmark import build_benchmark
    from ner_jax.features import FeatureExtractor
    from ner_jax.head_inputs import InputSpec, corpus_features, mention_inputs
    from ner_jax.models import load_model

    root, model = setup
    spec = InputSpec(("v@1", "attn@2"), sentence_end=True)
    extractor = FeatureExtractor(load_model(model, 2), spec.components, spec.blocks)
    bench = build_benchmark([str(root / "a.txt"), str(root / "b.txt")])
    stored = corpus_features(extractor, bench, tmp_path, progress=False)
    texts = [d.text for d in bench.documents]
    spans = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    inputs, kept = mention_inputs(extractor, texts, spans, spec)
    assert kept.all() and inputs.shape == (11, spec.width(extractor.model.config))
    np.testing.assert_allclose(inputs, stored.inputs(spec), rtol=1e-6, atol=1e-6)


def test_without_sentence_ends_the_forward_stops_at_each_texts_last_mention(setup, tmp_path):
    """A head that reads no sentence ends never runs the decoder past a text's last mention,
    and words after it change nothing (the decoder is causal)."""
    from ner_jax.benchmark import build_benchmark
    from ner_jax.features import FeatureExtractor
    from ner_jax.head_inputs import InputSpec, corpus_features, mention_inputs
    from ner_jax.models import load_model

    root, model = setup
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
