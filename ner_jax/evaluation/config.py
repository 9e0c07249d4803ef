"""What `evaluate` runs: the systems, the spans they read, and the corpus and model options."""

from __future__ import annotations

import dataclasses

from ner_jax.features import QUERY_TEMPLATE
from ner_jax.model import DEFAULT_MODEL
from ner_jax.verdict import VERDICT_WEIGHT

SYSTEMS = ("bm25", "minilm", "minilm_mentions", "raw", "head")
SPANS = ("gold", "detected")  # which mentions the model-based systems read


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    data: tuple[str, ...]
    out: str
    systems: tuple[str, ...] = ("bm25", "minilm", "raw", "head")
    model: str = DEFAULT_MODEL
    tap_block: int | None = None  # the `raw` system's block; None: the model's default
    component: str | None = None  # the `raw` system's activation; None: the model's default
    raw_taps: tuple[str, ...] = ()  # extra raw systems, "BLOCK" (value vectors) or "COMP@BLOCK"
    heads: tuple[str, ...] = ()  # head files, "PATH" (system `head`) or "NAME=PATH" (`head-NAME`)
    fuse: tuple[str, ...] = ()  # fused pairs of systems, "A+B" (e.g. head+minilm)
    verdict: tuple[str, ...] = ()  # head systems also run reranked by the verdict: NAME+verdict
    verdict_weights: tuple[float, ...] = (VERDICT_WEIGHT,)  # several: NAME+verdict@W each
    seen_types: str | None = None  # JSON list of labels seen in training: also score the rest
    groups: str | None = None  # JSON map group -> labels: also score each group's queries
    paraphrases: str | None = None  # JSON map label -> wordings: score each wording, and spread
    features: str | None = None  # feature store root; None: <out>/features
    query_template: str = QUERY_TEMPLATE  # raw systems' query text (heads use their own)
    queries: str | None = None  # JSON map label -> query words
    catch_all_queries: bool = False  # also query misc/Other* types (the reference's MultiCoNER)
    minilm: str | None = None  # a MiniLM directory; None: the PyPI package
    dtype: str = "auto"  # bf16 on GPU and TPU, fp32 on CPU (model.resolve_dtype)
    max_tokens: int = 512
    seed: int = 0  # tie-breaking shuffle
    spans: str = "gold"  # "detected": the mention detector's spans instead of the gold ones
    detector: str | None = None  # with spans="detected"; None: the detector shipped for the model
    detector_threshold: float | None = None  # its operating point; None: the detector's own
