"""The systems that read the model: raw taps and projection heads, scored by best-mention cosine."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from absl import logging
from tqdm import tqdm

from ner_jax.data import Benchmark, best_mention_scores
from ner_jax.detector import (
    Detector,
    detect_mentions,
    load_detector,
    resolve_detector,
    span_scores,
)
from ner_jax.evaluation.config import EvaluateConfig
from ner_jax.evaluation.verdict_systems import JudgedMentions
from ner_jax.features import (
    FeatureExtractor,
    InputSpec,
    corpus_features,
    extractor_for,
    query_readings,
)
from ner_jax.head import Head, default_head, head_file, load_head
from ner_jax.index import model_key
from ner_jax.model import parse_tap, resolve_tap

MentionInputs = Callable[[InputSpec], np.ndarray]  # spec -> [M, in] inputs of the mentions read
GOLD = "@gold"  # with detected spans, the suffix of each model system run on the gold spans too


def encoder_systems(
    config: EvaluateConfig,
    bench: Benchmark,
    notes: dict,
    judged: dict[str, JudgedMentions] | None = None,
) -> dict[str, Callable[[], np.ndarray]]:
    """`raw` (the model's tap), `raw-<component><block>` per extra tap (best-mention cosine of
    activations with the type names, no head), and one system per head. One encoder pass over
    the corpus serves all of them (with gold spans, the store in --features is reused across
    runs; with detected spans, the pass also detects, and `notes` gets the detector's scores).
    With detected spans each system also runs on the gold spans, as `NAME@gold`, so that a
    report says what detection costs retrieval. `judged` gets what the verdict reads of each
    head system that config.verdict names."""
    taps = raw_taps(config)
    heads = load_heads(config)
    if not taps and not heads:
        return {}
    needed = [*taps.values(), *(t for h in heads.values() for t in h.spec.parsed)]
    if config.spans == "detected":
        detector_path, detector = mention_detector(config)
        needed += list(map(parse_tap, detector.taps))
    taps_read = [f"{c}@{b}" for c, b in needed]
    extractor = extractor_for(config.model, taps_read, config.dtype, config.max_tokens)
    started = time.perf_counter()
    read = {"": gold_mentions(config, bench, extractor)}
    if config.spans == "detected":
        *detected, notes["detector"] = detected_mentions(bench, extractor, detector, detector_path)
        read = {"": tuple(detected), GOLD: read[""]}
    logging.info("mention features in %.0f s", time.perf_counter() - started)
    query_texts = [q.text for q in bench.queries]

    @functools.cache  # the gold and the detected systems read the same queries
    def queries(spec: InputSpec, template: str, at: tuple[str, ...] = ("last",)) -> np.ndarray:
        return query_readings(extractor, query_texts, spec, template, at)

    systems = {}
    for suffix, (docs, inputs, spans) in read.items():
        scores = BestMention(queries, config.query_template, docs, inputs, len(bench.documents))
        systems |= {name + suffix: scores.raw(*tap) for name, tap in taps.items()}
        for name, head in heads.items():
            cosines = scores.similarities(head)
            if judged is not None and name + suffix in config.verdict:
                cosines = functools.cache(cosines)  # the head system's and its verdict system's
                judged[name + suffix] = JudgedMentions(cosines, docs, spans)
            systems[name + suffix] = scores.best(cosines)
    return systems


@dataclasses.dataclass(frozen=True)
class BestMention:
    """Systems that score a document by its best mention's cosine with each query."""

    # (spec, template, positions) -> [positions, Q, in] query inputs
    queries: Callable[..., np.ndarray]
    template: str  # the raw systems' query template (heads bring their own)
    docs: np.ndarray  # [M] document of each mention
    inputs: MentionInputs
    documents: int

    def raw(self, component: str, block: int) -> Callable[[], np.ndarray]:
        spec = InputSpec((f"{component}@{block}",))
        return lambda: self._scores(self.queries(spec, self.template)[0], self.inputs(spec))

    def projected(self, head: Head) -> Callable[[], np.ndarray]:
        return self.best(self.similarities(head))

    def best(self, similarities: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
        """[Q, D] each document's best mention's similarity, from [Q, M] `similarities`."""
        return lambda: best_mention_scores(similarities(), self.docs, self.documents)

    def similarities(self, head: Head) -> Callable[[], np.ndarray]:
        """[Q, M] each mention's cosine with each query, through the head."""

        def cosines() -> np.ndarray:
            at = tuple(head.query_reading)
            queries = head.query_vectors(self.queries(head.spec, head.query_template, at))
            return queries @ head.project(self.inputs(head.spec)).T

        return cosines

    def _scores(self, queries: np.ndarray, mentions: np.ndarray) -> np.ndarray:
        return best_mention_scores(queries @ mentions.T, self.docs, self.documents)


def raw_taps(config: EvaluateConfig) -> dict[str, tuple[str, int]]:
    """System name -> (component, block) of each raw system: `raw` first if it runs."""
    # Resolved even when `raw` does not run: it checks the model, block and component.
    default = resolve_tap(config.model, config.tap_block, config.component)
    taps = {f"raw-{c}{b}": (c, b) for c, b in map(parse_tap, config.raw_taps)}
    if "raw" in config.systems:
        taps = {"raw": (default.component, default.block), **taps}
    return taps


def load_heads(config: EvaluateConfig) -> dict[str, Head]:
    """System name -> head, each checked to read the activations of the model evaluated."""
    heads = {name: load_head(path) for name, path in head_paths(config).items()}
    for name, head in heads.items():
        if model_key(head.model) != model_key(config.model):
            raise ValueError(f"{name} reads {head.model} activations; --model is {config.model}")
    return heads


def head_paths(config: EvaluateConfig) -> dict[str, str]:
    """System name -> head file: `head` is the shipped head (or the first --head without a
    name), `head-NAME` each NAME=PATH."""
    paths = {}
    for entry in config.heads:
        name, _, path = entry.rpartition("=")
        paths[f"head-{name}" if name else "head"] = str(head_file(config.model, path))
    if "head" in config.systems and "head" not in paths:
        shipped = default_head(config.model)
        if shipped is None:
            raise ValueError(
                f"no head ships for {config.model}: pass --head PATH, or leave `head` out of"
                " --systems"
            )
        paths["head"] = str(shipped)
    return paths


def mention_detector(config: EvaluateConfig) -> tuple[Path, Detector]:
    """The detector given, else the one shipped for the model (its path, for the report), at
    the operating point asked for (default: its own)."""
    path = resolve_detector(config.model, config.detector)
    if path is None:
        raise ValueError(f"--spans detected needs a detector; none ships for {config.model}")
    return path, load_detector(path).with_threshold(config.detector_threshold)


def gold_mentions(
    config: EvaluateConfig, bench: Benchmark, extractor: FeatureExtractor
) -> tuple[np.ndarray, MentionInputs, np.ndarray]:
    """[M] document of each gold mention the store kept, their inputs, and their spans
    [M, 2]; the feature store persists, so later runs on the same corpus skip the encoder
    pass."""
    root = Path(config.features) if config.features else Path(config.out) / "features"
    features = corpus_features(extractor, bench, root)
    kept = features.kept

    def inputs(spec: InputSpec) -> np.ndarray:
        return features.inputs(spec)[kept]

    spans = np.array([(s.start, s.end) for d in bench.documents for s in d.spans], np.int64)
    return features.mention_docs[kept], inputs, spans.reshape(-1, 2)[kept]


def detected_mentions(
    bench: Benchmark, extractor: FeatureExtractor, detector: Detector, path: Path
) -> tuple[np.ndarray, MentionInputs, np.ndarray, dict]:
    """[M] document of each detected mention, their inputs, their spans [M, 2], and the
    detector's note for the report: its file, variant, operating point, mention count (and
    per document) and span scores against the gold spans."""
    texts = [d.text for d in bench.documents]
    with tqdm(total=len(texts), unit="text", desc="detecting mentions") as bar:
        found = detect_mentions(extractor, detector, texts, bar)
    gold = [[(s.start, s.end) for s in d.spans] for d in bench.documents]
    note = {
        "path": str(path),
        "variant": detector.record.get("variant"),
        "threshold": detector.threshold,
        "mentions": len(found.docs),
        "mentions_per_document": len(found.docs) / max(len(texts), 1),
        **span_scores(found.spans, gold),
    }
    spans = np.array([s for doc_spans in found.spans for s in doc_spans], np.int64)
    return found.docs, found.inputs, spans.reshape(-1, 2), note
