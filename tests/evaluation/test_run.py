"""evaluate end to end on a tiny model and corpus: reports, detected spans, heads, the summary."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from support.reference_head import project, unit
from support.tiny_models import tiny_detector

from ner_jax.data.benchmark import build_benchmark
from ner_jax.data.metrics import best_mention_scores, evaluate_rankings, rank
from ner_jax.detector.mentions import detect_mentions
from ner_jax.detector.tagger import load_detector
from ner_jax.detector.tags import span_scores
from ner_jax.evaluation.config import EvaluateConfig
from ner_jax.evaluation.run import evaluate, markdown, summary
from ner_jax.features.extractor import FeatureExtractor
from ner_jax.model.loaded import load_model


def test_evaluate_writes_reports_that_rescore_from_the_rankings(eval_corpus):
    root, model = eval_corpus
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


def test_evaluate_with_detected_spans(eval_corpus, tmp_path):
    root, model = eval_corpus
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
    mentions = unit(found.mention["v", 2])
    queries = unit(extractor.embed_queries([q.text for q in bench.queries])["v"][1])
    scores = best_mention_scores(queries @ mentions.T, found.docs, len(texts))
    relevant = [q.relevant for q in bench.queries]
    by_hand = evaluate_rankings(rank(scores, 0), relevant)["r_precision"]
    assert report["systems"]["raw"]["r_precision"] == pytest.approx(by_hand)
    assert "Model systems read detected spans" in (tmp_path / "out" / "report.md").read_text()
    # The same systems on the gold spans, in the same run: what detection costs retrieval.
    gold_run = evaluate(dataclasses.replace(config, spans="gold", out=str(tmp_path / "gold")))
    on_gold = gold_run["systems"]["raw"]["r_precision"]
    assert report["systems"]["raw@gold"]["r_precision"] == pytest.approx(on_gold)
    assert report["detected_vs_gold"] == {
        "raw": {"detected": by_hand, "gold": on_gold, "change": (by_hand - on_gold) / on_gold}
    }
    assert "detected_vs_gold" not in gold_run and "raw@gold" not in gold_run["systems"]
    assert report["detector"]["mentions_per_document"] == len(found.docs) / len(texts)
    assert f"raw {by_hand:.3f} vs {on_gold:.3f}" in summary(report)
    with pytest.raises(ValueError, match="minilm_mentions embeds gold mention strings"):
        evaluate(dataclasses.replace(config, systems=("minilm_mentions",)))
    assert report["detector"]["threshold"] is None  # the tiny detector decodes one Viterbi path
    # Another operating point: at 0 every word ends a mention, so every gold mention's end is
    # found, and the report says which point ran.
    every = evaluate(dataclasses.replace(config, out=str(tmp_path / "0"), detector_threshold=0.0))
    words = sum(len(t.split()) for t in texts)
    assert every["detector"]["threshold"] == 0.0 and every["detector"]["mentions"] == words
    assert every["detector"]["end_recall"] == 1.0 > report["detector"]["end_recall"]
    assert every["config"]["detector_threshold"] == 0.0
    assert f"{tmp_path / 'names.safetensors'}, threshold 0): {words} mentions" in summary(every)
    assert "end recall 1.000" in summary(every) and ", Viterbi):" in summary(report)


def test_head_system_ranks_by_projected_mentions_and_sentence_ends(eval_corpus, tmp_path):
    """`head` = best-mention cosine of projected [mention tap, sentence-end tap] inputs; checked
    against the features and the head applied by hand; fusion and seen/unseen splits run."""
    import jax

    from ner_jax.data.metrics import rank
    from ner_jax.features.extractor import FeatureExtractor
    from ner_jax.head.file import save_head
    from ner_jax.head.projection import ProjectionHead
    from ner_jax.model.loaded import load_model

    root, model = eval_corpus
    from ner_jax.features.inputs import InputSpec

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

    rows = [(d, i) for d, s in enumerate(spans) for i in range(len(s))]
    starts = np.cumsum([0] + [len(s) + 1 for s in spans])
    mention = [starts[d] + i for d, i in rows]
    end = [starts[d] + len(spans[d]) for d, _ in rows]
    v1, attn2 = feats["v"][0], feats["attn"][1]
    m = np.concatenate(
        [unit(v1[mention]), unit(attn2[mention]), unit(v1[end]), unit(attn2[end])], 1
    )
    q = np.concatenate([unit(queries["v"][0]), unit(queries["attn"][1])] * 2, 1)
    sims = project(params, q) @ project(params, m).T
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


def test_summary_is_the_head_of_the_markdown_report():
    """What the command line prints is report.md up to its per-query table, whatever the
    report holds (detector, seen/unseen split)."""
    result = {"r_precision": 0.5, "p_at_10": 0.25, "seconds": 1.5}
    result["per_query_r_precision"] = [0.0, 1.0]
    queries = [{"type": "city", "query": "city", "relevant": 3}]
    queries += [{"type": "person", "query": "person", "relevant": 1}]
    plain = {
        "config": {"data": ["a.txt", "b.txt"]},
        "corpus": {"documents": 5, "mentions": 11, "queries": queries},
        "systems": {"bm25": result, "raw": result},
    }
    detected = {**plain, "detector": {"path": "d.safetensors", "mentions": 9, "f1": 0.8}}
    detected["detector"] |= {"precision": 0.9, "recall": 0.7}
    split = {**result, "seen_r_precision": 1.0, "unseen_r_precision": float("nan")}
    seen = {**plain, "systems": {"head": split, "head+bm25": split}}
    for report in (plain, detected, seen):
        head, table = markdown(report).split("\n\n| type", 1)
        assert summary(report) == head and "| system | R-Precision |" in head
        assert table.count("\n") == 2 + len(queries)
    assert "detected spans (d.safetensors)" in summary(detected)
    assert "unseen types" in summary(seen) and "nan" in summary(seen)


def test_groups_and_paraphrases_score_every_wording_against_its_types_documents(eval_corpus):
    root, model = eval_corpus
    data = (str(root / "a.txt"), str(root / "b.txt"))
    (root / "groups.json").write_text(json.dumps({"places": ["city", "building"], "all": []}))
    config = EvaluateConfig(
        data=data,
        out=str(root / "out_groups"),
        systems=("bm25", "raw"),
        model=model,
        tap_block=2,
        groups=str(root / "groups.json"),
    )
    with pytest.raises(ValueError, match="groups.json: 'all' needs a non-empty list"):
        evaluate(config)
    (root / "groups.json").write_text(json.dumps({"places": ["city", "building"], "x": ["lab"]}))
    with pytest.raises(ValueError, match=r"group 'x' names \['lab'\], not queried"):
        evaluate(config)
    (root / "groups.json").write_text(json.dumps({"places": ["city", "building"]}))
    wordings = {"city": ["city", "town", "town"], "protein": ["protein", "keratin"]}
    (root / "paraphrases.json").write_text(json.dumps(wordings))
    report = evaluate(dataclasses.replace(config, paraphrases=str(root / "paraphrases.json")))
    types = [q["type"] for q in report["corpus"]["queries"]]
    for name in ("bm25", "raw"):
        per_query = dict(zip(types, report["systems"][name]["per_query_r_precision"], strict=True))
        places = np.mean([per_query["city"], per_query["building"]])
        assert report["systems"][name]["groups"] == {"places": pytest.approx(places)}
        spread = report["paraphrases"][name]
        assert list(spread["types"]) == ["city", "protein"]
        assert list(spread["types"]["city"]) == ["city", "town"]  # a repeated wording once
        # The type's own wording scores as the type's query does.
        assert spread["types"]["city"]["city"] == pytest.approx(per_query["city"])
        by_type = [np.array(list(s.values())) for s in spread["types"].values()]
        assert spread["spread"] == pytest.approx(np.mean([s.max() - s.min() for s in by_type]))
        assert spread["worst"] == pytest.approx(np.mean([s.min() for s in by_type]))
    # BM25 finds the one protein document by the word "keratin" (no document says "protein").
    assert report["paraphrases"]["bm25"]["types"]["protein"]["keratin"] == 1.0
    text = summary(report)
    assert "| system | places |" in text and "spread (best - worst)" in text
