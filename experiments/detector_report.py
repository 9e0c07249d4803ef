"""The detector experiment's measurements: retrieval systems over token data, held-out tests,
baselines on the same documents, and the report's table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

QUERY_FILES = {c: f"{c}.json" for c in ("multiconer", "crossner", "fewnerd")}
SYSTEMS = ("head", "raw")  # the shipped head, and the untrained attn@15 tap
RAW_TAP = "attn@15"


def retrieval_splits(model: str, data: str, tokens: dict, types: dict, workdir: Path) -> dict:
    """{system: {split: RetrievalSplit}} for every selection and test split (the head's text
    means, if it reads them, cached in WORKDIR/means)."""
    from configs import detector as configs

    from ner_jax.data import is_catch_all, load_query_words
    from ner_jax.detector import RetrievalSplit
    from ner_jax.features import (
        QUERY_TEMPLATE,
        InputSpec,
        extractor_for,
        l2_normalise,
        query_inputs,
    )
    from ner_jax.head import load_head, shipped_head

    head = load_head(shipped_head(model))
    extractor = extractor_for(model, configs.TAPS)
    out = {**{s: {} for s in SYSTEMS}, "baselines": {}}
    for name, split in configs.splits(data).items():
        if split.role == "train":
            continue
        words = load_query_words(f"{data}/queries/{QUERY_FILES[split.corpus]}")
        kinds = sorted({k for t in types[name] for k in t if k in words and not is_catch_all(k)})
        relevant = [[d for d, t in enumerate(types[name]) if k in t] for k in kinds]
        texts = [words[k] for k in kinds]
        raw = l2_normalise(tokens[name].features[RAW_TAP].astype(np.float32))
        spec = InputSpec((RAW_TAP,))
        out["raw"][name] = RetrievalSplit(
            tokens[name], relevant, query_inputs(extractor, texts, spec, QUERY_TEMPLATE), raw
        )
        queries = head.project(query_inputs(extractor, texts, head.spec, head.query_template))
        vectors = token_vectors(head, extractor, tokens[name], workdir / "means")
        out["head"][name] = RetrievalSplit(tokens[name], relevant, queries, vectors)
        if split.role == "test" and not split.lower:
            out["baselines"][name] = baselines(tokens[name].texts, texts, relevant)
    return out


def token_vectors(head, extractor, tokens, root: Path, chunk: int = 16384) -> np.ndarray:
    """[N, out] the head's vector of every token, as if a mention ended there: its taps (unit
    already), then, if the head reads its text's mean, that (from its own pass: the token data
    holds unit rows, whose mean is not the tap's)."""
    from ner_jax.features.store import cached_means
    from ner_jax.model import parse_tap

    taps = np.concatenate([tokens.features[t] for t in head.spec.taps], axis=-1)  # [N, in]
    if head.spec.context:
        means = cached_means(extractor, tokens.texts, root)
        text = np.concatenate([means[parse_tap(t)] for t in head.spec.taps], axis=-1)  # [S, in]
        of_token = np.repeat(np.arange(len(tokens.texts)), tokens.lengths)  # [N]
    parts = []
    for first in range(0, len(taps), chunk):  # the inputs of every token at once are too large
        inputs = taps[first : first + chunk].astype(np.float32)
        if head.spec.context:
            inputs = np.concatenate([inputs, text[of_token[first : first + chunk]]], axis=-1)
        parts.append(head.project(inputs))
    return np.concatenate(parts)


def baselines(documents: list[str], queries: list[str], relevant: list[list[int]]) -> dict:
    """R-Precision of BM25 and MiniLM (whole sentences) on the same documents and queries."""
    from ner_jax.data import evaluate_rankings, rank
    from ner_jax.evaluation import MiniLM, bm25_scores, sentence_scores

    scores = {
        "bm25": bm25_scores(documents, queries),
        "minilm": sentence_scores(MiniLM.load(), documents, queries),
    }
    return {k: evaluate_rankings(rank(v), relevant)["r_precision"] for k, v in scores.items()}


def test_fold(detector, held_out: str | None, systems: dict, tokens: dict) -> dict:
    """On each test split the fold may report (the held-out corpus's; all three for "all"), for
    each system, every operating point (the chosen one first) and one Viterbi path; and, where
    CrossNER is held out, its test sentences lower-cased."""
    from ner_jax.detector import THRESHOLDS, sweep

    corpora = [held_out] if held_out else ["multiconer", "crossner", "fewnerd"]
    points = [detector.threshold, None, *(t for t in THRESHOLDS if t != detector.threshold)]
    out = {}
    for corpus in corpora:
        name = f"test_{corpus}"
        out[name] = {s: sweep(detector, [systems[s][name]], points) for s in SYSTEMS}
        out[name]["baselines"] = systems["baselines"][name]
    if "crossner" in corpora:
        out["casing"] = casing(detector, tokens)
    return out


def casing(detector, tokens: dict) -> dict:
    """Span scores on CrossNER test texts as written and lower-cased, and how many texts get
    the same spans both ways."""
    from ner_jax.detector import span_scores, tag_log_probs

    lower = tokens["test_crossner_lower"]
    cased_at = {t.lower(): d for d, t in enumerate(tokens["test_crossner"].texts)}
    cased = tokens["test_crossner"].subset([cased_at[t] for t in lower.texts])
    found = {}
    for name, data in (("cased", cased), ("lower", lower)):
        found[name] = detector.decode(data.texts, data.text_offsets, tag_log_probs(detector, data))
    same = np.mean([a == b for a, b in zip(found["cased"], found["lower"], strict=True)])
    return {
        "texts": len(lower.texts),
        "same_spans": float(same),
        **{k: span_scores(v, lower.spans) for k, v in found.items()},
    }


def table(report: dict) -> str:
    """Markdown: per fold and test split, detection and R-Precision on detected vs gold spans
    at each operating point (the chosen one first)."""
    lines = [
        "| fold | test | decoding | span P | span R | end R | mentions/doc | head gold "
        "| head detected | change | raw gold | raw detected | BM25 | MiniLM |",
        "|---" * 14 + "|",
    ]
    for fold, entry in report["folds"].items():
        for split, result in entry["test"].items():
            if split == "casing":
                continue
            head, raw, base = result["head"], result["raw"], result["baselines"]
            gold = head["gold"]["r_precision"]
            for point, r in zip(head["points"], raw["points"], strict=True):
                s, t = point["per_split"][0], point["threshold"]
                lines.append(
                    f"| {fold} | {split} | {'Viterbi' if t is None else f'ends >= {t:g}'} "
                    f"| {s['precision']:.3f} | {s['recall']:.3f} | {s['end_recall']:.3f} "
                    f"| {s['mentions_per_document']:.2f} | {gold:.3f} | {point['r_precision']:.3f} "
                    f"| {point['r_precision'] / gold - 1:+.1%} | {raw['gold']['r_precision']:.3f} "
                    f"| {r['r_precision']:.3f} | {base['bm25']:.3f} | {base['minilm']:.3f} |"
                )
    return "\n".join(lines) + "\n"
