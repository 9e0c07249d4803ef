"""Train a projection head end to end: features, mention sets, training, and the head file."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import time
from pathlib import Path

import numpy as np
from absl import logging

from ner_jax.data import load_label_lists
from ner_jax.features import QUERY_TEMPLATE, InputSpec, extractor_for
from ner_jax.head.file import save_head
from ner_jax.head.mentions import Corpus, load_mentions
from ner_jax.head.training import OptimConfig, train
from ner_jax.model import DEFAULT_MODEL, resolve_tap


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Which activations, which data, how to optimise. `train` and `select` name files of the
    corpora; documents are assigned by the file of their first occurrence."""

    corpora: tuple[Corpus, ...]
    train: tuple[str, ...]
    select: tuple[str, ...]
    name: str = ""  # the named configuration, recorded with the head
    model: str = DEFAULT_MODEL
    taps: tuple[str, ...] = ()  # "COMPONENT@BLOCK"; empty: the model's default tap
    sentence_end: bool = False
    query_template: str = QUERY_TEMPLATE  # how type names are written before encoding
    raw_mix: float = 0.0  # at inference, weight of the first tap's own cosine (Head.project)
    optim: OptimConfig = OptimConfig()
    features: str | None = None  # feature store root; None: <workdir>/features
    max_tokens: int = 512
    # JSON map query words -> wordings of the type (the query words first); training anchors
    # are drawn among them. None: the query words alone.
    wordings: str | None = None
    # Leave-types-out selection: these types (query words) never train; the step is selected
    # on them alone, a score of types the head has not seen. Empty: select on all types.
    held_out_types: tuple[str, ...] = ()
    # Where descriptions are read at search time, with weights (Head.query_reading); training
    # anchors are read at their last token either way. Empty: the last token alone.
    query_reading: tuple[tuple[str, float], ...] = ()

    def spec(self) -> InputSpec:
        if self.taps:
            return InputSpec(self.taps, self.sentence_end)
        tap = resolve_tap(self.model)
        return InputSpec((f"{tap.component}@{tap.block}",), self.sentence_end)


def read_wordings_file(path: str) -> dict[str, list[str]]:
    """A JSON map query words -> the type's wordings, each list starting with the query words."""
    table = load_label_lists(path, "wordings")
    for words, listed in table.items():
        if listed[0] != words:
            raise ValueError(f"wordings file {path}: {words!r}'s list must start with {words!r}")
    return table


def file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_head(
    config: TrainConfig, workdir: str | Path, progress: bool = True, stop_after: int | None = None
) -> Path | None:
    """Train (resuming from workdir), then write <workdir>/head.safetensors and head.json with
    a record of the data, config and metrics. Returns the weights path (None when stopped
    early by `stop_after`: rerun to finish)."""
    workdir = Path(workdir)
    if overlap := set(config.train) & set(config.select):
        raise ValueError(f"files both trained on and selected on: {sorted(overlap)}")
    spec = config.spec()
    extractor = extractor_for(config.model, spec.taps, max_tokens=config.max_tokens)
    root = Path(config.features) if config.features else workdir / "features"

    wordings = read_wordings_file(config.wordings) if config.wordings else None
    held_out = set(config.held_out_types)

    def mentions(files, **kwargs):
        template = config.query_template
        return load_mentions(
            extractor, spec, config.corpora, files, root, progress, template, **kwargs
        )

    # Leave-types-out: the held-out types never train and are the only ones selection scores
    # (the other types' mentions stay in the selection set as distractors).
    trained = (lambda t: t not in held_out) if held_out else None
    train_set = mentions(config.train, types=trained, wordings=wordings)
    select_set = mentions(config.select, queried=held_out.__contains__ if held_out else None)
    if missing := held_out - set(select_set.type_names):
        raise ValueError(f"held_out_types {sorted(missing)} have no mentions to select on")
    started = time.perf_counter()
    state = train(train_set, select_set, config.optim, workdir, progress, stop_after)
    if int(state["step"]) < config.optim.steps:
        return None
    record = {
        "variant": config.name,
        "model": config.model,
        "taps": list(spec.taps),
        "sentence_end": spec.sentence_end,
        "hidden": config.optim.hidden,
        "out": config.optim.out,
        "dropout": config.optim.dropout,
        "skip": config.optim.skip,
        "query_template": config.query_template,
        **({"query_reading": dict(config.query_reading)} if config.query_reading else {}),
        "raw_mix": config.raw_mix,
        "raw_width": extractor.model.config.component_width(spec.parsed[0][0]),
        "trained": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "config": dataclasses.asdict(config),
        "data": {
            "train": _describe(train_set),
            "select": _describe(select_set),
            "selection": "types held out of training" if held_out else "every type",
            "wordings": {t: list(wordings.get(t, [t])) for t in train_set.type_names}
            if wordings
            else None,
            "sha256": {
                f: file_digest(f)
                for f in sorted({*config.train, *config.select, *filter(None, [config.wordings])})
            },
        },
        "metrics": {
            "best_step": int(state["best_step"]),
            "select_r_precision": float(state["best_score"]),
            "train_seconds_this_run": round(time.perf_counter() - started, 1),
        },
    }
    path = save_head(workdir / "head.safetensors", state["best_params"], record)
    logging.info(
        "head at step %d: selection R-Precision %.3f -> %s",
        record["metrics"]["best_step"],
        record["metrics"]["select_r_precision"],
        path,
    )
    return path


def _describe(mentions) -> dict:
    counts = mentions.counts()
    described = {
        "files": mentions.files,
        "mentions": len(mentions),
        "documents": int(len(np.unique(mentions.docs))),
        "types": {name: int(n) for name, n in zip(mentions.type_names, counts, strict=True)},
    }
    if mentions.queried is not None:
        scored = zip(mentions.type_names, mentions.queried, strict=True)
        described["scored_types"] = [name for name, queried in scored if queried]
    return described
