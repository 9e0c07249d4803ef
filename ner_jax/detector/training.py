"""Trains the mention detector on token features: cross-entropy over tags, selected on span F1.

One plain jitted Adam step over batches of whole sentences (padded to a few bucketed lengths),
drawn from every training corpus alike, with O tokens weighted by their corpus's `o_weight`;
every `eval_every` steps the selection splits are decoded (one Viterbi path) and the parameters
with the best F1, averaged over the splits, kept. The operating point for recall-first decoding
is chosen afterwards by retrieval quality (detector.selection).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from ner_jax.detector.data import TokenData
from ner_jax.detector.tagger import Detector, MentionTagger
from ner_jax.detector.tags import O, span_scores
from ner_jax.features import bucket


@dataclasses.dataclass(frozen=True)
class DetectorTrainConfig:
    taps: tuple[str, ...]
    context: tuple[int, int] = (1, 2)
    hidden: int = 256
    dropout: float = 0.1
    steps: int = 3000
    batch_texts: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    eval_every: int = 500
    seed: int = 0


def joined(data: TokenData, taps) -> np.ndarray:
    """[N, sum widths] float16 features of the taps side by side (rows are already unit)."""
    return np.concatenate([data.features[t] for t in taps], axis=-1)


def per_text(data: TokenData, x: np.ndarray) -> list[np.ndarray]:
    starts = data.starts
    return [x[starts[d] : starts[d + 1]] for d in range(len(data.texts))]


def evaluate_detector(detector: Detector, data: TokenData, o_bias: float | None = None) -> dict:
    """Span precision/recall/F1 of the detector on labelled token data."""
    record = dict(detector.record, o_bias=detector.o_bias if o_bias is None else o_bias)
    detector = dataclasses.replace(detector, record=record)
    starts = data.starts
    offsets = [data.offsets[starts[d] : starts[d + 1]] for d in range(len(data.texts))]
    features = [
        {t: data.features[t][starts[d] : starts[d + 1]] for t in detector.taps}
        for d in range(len(data.texts))
    ]
    return span_scores(detector.spans(data.texts, offsets, features), data.spans)


def train_detector(
    config: DetectorTrainConfig,
    model: str,
    train: Sequence[TokenData],
    select: Sequence[TokenData],
) -> tuple[Detector, list[dict]]:
    """(the detector with the best mean span F1 over the selection splits, evaluation log)."""
    module = MentionTagger(config.hidden, config.context, config.dropout)
    texts = [x for part in train for x in per_text(part, joined(part, config.taps))]
    tags = [y for part in train for y in per_text(part, part.tags)]
    o_weights = np.concatenate([np.full(len(part.texts), part.o_weight) for part in train])
    width = texts[0].shape[1]
    key = jax.random.PRNGKey(config.seed)
    params = module.init(key, jnp.zeros((1, 16, width)))["params"]
    schedule = optax.cosine_decay_schedule(config.learning_rate, config.steps)
    tx = optax.adamw(schedule, weight_decay=config.weight_decay)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y, weight, key):
        def loss_fn(params):
            logits = module.apply({"params": params}, x, train=True, rngs={"dropout": key})
            losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)  # [B, T]
            return (losses * weight).sum() / weight.sum()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    record = {
        "model": model,
        "taps": list(config.taps),
        "context": list(config.context),
        "hidden": config.hidden,
        "dropout": config.dropout,
    }
    rng = np.random.default_rng(config.seed)
    best, log, started = None, [], time.perf_counter()
    for i in range(1, config.steps + 1):
        chosen = rng.choice(len(texts), config.batch_texts, replace=False)
        length = bucket(max(len(texts[d]) for d in chosen), 16)
        x = np.zeros((len(chosen), length, width), np.float32)
        y = np.zeros((len(chosen), length), np.int32)
        weight = np.zeros((len(chosen), length), np.float32)  # 0 on padding
        for row, d in enumerate(chosen):
            x[row, : len(texts[d])], y[row, : len(texts[d])] = texts[d], tags[d]
            weight[row, : len(texts[d])] = np.where(tags[d] == O, o_weights[d], 1.0)
        key, sub = jax.random.split(key)
        params, opt_state, loss = step(params, opt_state, x, y, weight, sub)
        if i % config.eval_every == 0 or i == config.steps:
            detector = Detector(model, config.taps, module, params, dict(record))
            scores = [evaluate_detector(detector, part) for part in select]
            f1 = float(np.mean([s["f1"] for s in scores]))
            log.append({"step": i, "loss": float(loss), "f1": f1, "select": scores})
            seconds = time.perf_counter() - started
            logging.info("step %d loss %.4f select F1 %.4f (%.0fs)", i, loss, f1, seconds)
            if best is None or f1 > best[1]:
                best = (detector, f1, i)
    detector, _, best_step = best
    detector.record.update(step=best_step, train_seconds=round(time.perf_counter() - started, 1))
    return detector, log
