"""Contrastive head training: one jitted data-parallel optax step, orbax resume, JSONL metrics."""

# Batches are drawn on the host from a seeded generator keyed by the step number, so a run that
# resumes from any checkpoint replays exactly the batches an uninterrupted run would have seen.

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from ner_jax.features import l2_normalise
from ner_jax.files import atomic
from ner_jax.head.mentions import MentionSet, retrieval_score
from ner_jax.head.projection import ProjectionHead, info_nce_loss, triplet_loss, unit_outputs

LOSSES = ("info_nce", "triplet")


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Loss, head size and optimisation. Triplet defaults follow the paper where it is explicit."""

    loss: str = "info_nce"
    hidden: int = 500
    out: int = 500
    dropout: float = 0.1
    skip: float = 0.0  # weight of the input cosine in the output (see ProjectionHead)
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    steps: int = 2000
    types_per_batch: int = 32  # InfoNCE: types per step; triplet: anchors per step
    mentions_per_type: int = 16  # InfoNCE: mentions per type; triplet: positives per anchor
    temperature: float = 0.05  # InfoNCE
    margin: float = 0.5  # triplet
    random_negatives: int = 25  # triplet: other-type mentions drawn at random
    hard_negatives: int = 25  # triplet: the most similar of `hard_pool` other-type mentions
    hard_pool: int = 200
    eval_every: int = 200
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")


class QuietOrbax(std_logging.Filter):
    """Orbax logs about a dozen INFO lines per checkpoint save; keep its warnings and errors."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def sample_batch(mentions: MentionSet, optim: OptimConfig, step: int) -> dict[str, np.ndarray]:
    """The step's batch (host arrays), a pure function of (seed, step). Types are drawn
    uniformly, so rare types weigh as much as common ones; mentions with replacement. With
    several wordings per type, each anchor is one of its type's wordings, drawn uniformly."""
    rng = np.random.default_rng([optim.seed, step])
    count = len(mentions.type_names)
    chosen = rng.choice(count, min(optim.types_per_batch, count), replace=False)
    by_type = [np.flatnonzero(mentions.types == t) for t in chosen]
    positives = np.stack([rng.choice(rows, optim.mentions_per_type) for rows in by_type])
    anchors = mentions.anchors[chosen]
    if mentions.wordings is not None:  # its own stream: single-wording batches stay as they were
        which = np.random.default_rng([optim.seed, step, 1]).integers(
            mentions.wording_counts[chosen]
        )
        anchors = mentions.wordings[chosen, which]
    if optim.loss == "info_nce":
        return {
            "anchors": anchors,
            "mentions": mentions.inputs[positives.reshape(-1)],
            "types": np.repeat(np.arange(len(chosen), dtype=np.int32), optim.mentions_per_type),
        }
    others = [np.flatnonzero(mentions.types != t) for t in chosen]
    negatives = optim.random_negatives + optim.hard_pool
    drawn = np.stack([rng.choice(rows, negatives) for rows in others])
    return {
        "anchors": anchors,
        "positives": mentions.inputs[positives],
        "random": mentions.inputs[drawn[:, : optim.random_negatives]],
        "pool": mentions.inputs[drawn[:, optim.random_negatives :]],
    }


def loss_fn(module: ProjectionHead, optim: OptimConfig, params, batch, key):
    """The step's loss on one batch (dropout on, keyed)."""
    keys = iter(jax.random.split(key, 4))

    def head(x):
        return module.apply({"params": params}, x, train=True, rngs={"dropout": next(keys)})

    anchors = head(batch["anchors"])
    if optim.loss == "info_nce":
        mask = jnp.ones(batch["types"].shape, bool)
        return info_nce_loss(
            anchors, head(batch["mentions"]), batch["types"], mask, optim.temperature
        )
    pool = head(batch["pool"])  # [A, C, D]
    similar = jnp.einsum("ad,acd->ac", l2_normalise(anchors), l2_normalise(pool))
    _, hardest = jax.lax.top_k(jax.lax.stop_gradient(similar), optim.hard_negatives)  # [A, H]
    hard = jnp.take_along_axis(pool, hardest[:, :, None], axis=1)  # [A, H, D]
    negatives = jnp.concatenate([hard, head(batch["random"])], axis=1)  # [A, H + R, D]
    positives = head(batch["positives"])  # [A, P, D]
    p_mask = jnp.ones(positives.shape[:2], bool)
    n_mask = jnp.ones(negatives.shape[:2], bool)
    return triplet_loss(anchors, positives, negatives, p_mask, n_mask, optim.margin)


def make_optimizer(optim: OptimConfig) -> optax.GradientTransformation:
    warmup = max(1, min(optim.warmup_steps, optim.steps // 2))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, optim.learning_rate, warmup, max(optim.steps, warmup + 1)
    )
    return optax.adamw(schedule, weight_decay=optim.weight_decay)


def make_train_step(module: ProjectionHead, optim: OptimConfig, mesh: Mesh):
    """jit (state, batch) -> (state, loss): the batch's leading axis is split over the mesh's
    devices, parameters are replicated; the loss is over the whole batch, so any device count
    computes the same update (up to float summation order)."""
    tx = make_optimizer(optim)
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("data"))

    def step(state, batch):
        key = jax.random.fold_in(jax.random.key(optim.seed), state["step"])
        loss, grads = jax.value_and_grad(lambda p: loss_fn(module, optim, p, batch, key))(
            state["params"]
        )
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        return {**state, "params": params, "opt_state": opt_state, "step": state["step"] + 1}, loss

    if optim.loss == "info_nce":  # every device needs all anchors, and holds some mentions
        batch_sharding = {"anchors": replicated, "mentions": split, "types": split}
    else:  # each device holds some anchors with their positives and negatives
        batch_sharding = dict.fromkeys(("anchors", "positives", "random", "pool"), split)
    return jax.jit(step, in_shardings=(replicated, batch_sharding)), tx


def training_devices() -> list:
    """All devices on accelerators; one on CPU hosts. XLA's in-process CPU collectives over
    virtual host devices can hit rendezvous time-outs (a fatal abort) on a loaded machine
    (docs/performance.md), and the head is too small to gain from splitting its batch (see
    scripts/bench_training.py); the sharded step itself is tested on virtual devices."""
    devices = jax.devices()
    return devices[:1] if devices[0].platform == "cpu" else devices


def init_state(module: ProjectionHead, tx, width: int, seed: int) -> dict:
    params = module.init(jax.random.key(seed), jnp.zeros((1, width)))["params"]
    return {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "opt_state": tx.init(params),
        "best_params": jax.tree.map(jnp.copy, params),
        "best_score": jnp.full((), -1.0, jnp.float32),
        "best_step": jnp.zeros((), jnp.int32),
    }


def select_score(module: ProjectionHead, params, select: MentionSet) -> float:
    """Selection metric: macro R-Precision on the held-out mentions."""
    return retrieval_score(
        np.asarray(unit_outputs(module, params, select.inputs)),
        np.asarray(unit_outputs(module, params, select.anchors)),
        select,
    )


def train(
    train_set: MentionSet,
    select_set: MentionSet,
    optim: OptimConfig,
    workdir: Path,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict:
    """Train, selecting the step with the best `select_set` score; resumes from workdir.
    `stop_after` ends early as a preempted job would (after saving). Returns the final state
    (host arrays) with the best parameters."""
    workdir = Path(workdir)
    quiet = logging.get_absl_logger()
    if not any(isinstance(f, QuietOrbax) for f in quiet.filters):
        quiet.addFilter(QuietOrbax())
    module = ProjectionHead(optim.hidden, optim.out, optim.dropout, optim.skip)
    mesh = Mesh(np.array(training_devices()), ("data",))
    step_fn, tx = make_train_step(module, optim, mesh)
    width = train_set.inputs.shape[1]
    state = jax.device_put(
        init_state(module, tx, width, optim.seed), NamedSharding(mesh, PartitionSpec())
    )
    manager = ocp.CheckpointManager(
        (workdir / "checkpoints").absolute(),
        # Synchronous: an async save's device reads interleave with the next steps' programs
        # differently on each virtual CPU device and deadlock their all-gathers (seen here).
        # The state is a few MB, so saving inline costs milliseconds.
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, enable_async_checkpointing=False
        ),
    )
    log = MetricsLog(workdir / "metrics.jsonl")
    if manager.latest_step() is not None:
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
        state = manager.restore(manager.latest_step(), args=ocp.args.StandardRestore(abstract))
        logging.info("resumed %s at step %d", workdir, int(state["step"]))
    log.truncate(int(state["step"]))
    first = int(state["step"])
    bar = tqdm(total=optim.steps, initial=first, disable=not progress, desc="train head")
    started = time.perf_counter()
    last = min(optim.steps, stop_after or optim.steps)
    for step in range(first, last):
        state, loss = step_fn(state, sample_batch(train_set, optim, step))
        bar.update(1)
        done = step + 1
        if done % optim.eval_every and done not in (optim.steps, last):
            continue
        score = select_score(module, state["params"], select_set)
        if score > float(state["best_score"]):
            state = {**state, "best_params": state["params"], "best_score": jnp.float32(score)}
            state["best_step"] = jnp.int32(done)
        seconds = time.perf_counter() - started
        log.write(
            {
                "step": done,
                "loss": float(loss),
                "select_r_precision": score,
                "best": float(state["best_score"]),
                "seconds": round(seconds, 1),
            }
        )
        bar.set_postfix(loss=f"{float(loss):.3f}", select=f"{score:.3f}")
        manager.save(done, args=ocp.args.StandardSave(state))
    bar.close()
    manager.wait_until_finished()
    manager.close()
    return jax.device_get(state)


class MetricsLog:
    """Metrics as JSON lines (and TensorBoard when tensorboardX is installed)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            from tensorboardX import SummaryWriter

            self.board = SummaryWriter(str(path.parent / "tensorboard"))
        except ImportError:
            self.board = None

    def truncate(self, step: int) -> None:
        """Drop lines past `step` (written after the checkpoint a resumed run starts from)."""
        if not self.path.is_file():
            return
        lines = [ln for ln in self.path.read_text().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln)["step"] <= step]
        atomic.write_text(self.path, "".join(ln + "\n" for ln in kept))

    def write(self, metrics: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(metrics) + "\n")
        if self.board is not None:
            for name, value in metrics.items():
                if name != "step":
                    self.board.add_scalar(name, value, metrics["step"])
