"""A sharded corpus index built by the processes of a jax.distributed job, a shard each."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import jax
from absl import logging

from ner_jax.index.build import MANIFEST, IndexConfig, build_corpus_index
from ner_jax.index.documents import Document, check_unique_ids
from ner_jax.index.sharded import (
    SHARD_NAME,
    SHARDS,
    shard_name,
    shard_slice,
    write_shards_manifest,
)

DEFAULT_TIMEOUT = 24 * 3600  # seconds to wait for the other shards; a rerun reuses batches


class ShardFailed(RuntimeError):
    """Some process's shard (or the publishing of shards.json) failed; names which."""


@contextlib.contextmanager
def joined(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
):
    """Joins the job (jax.distributed.initialize) for the block; yields (process_id, count).

    All None: the cluster is auto-detected (TPU pods, SLURM, ...). Must come before anything
    touches a JAX backend. Leaving waits for every process (the service lives in process 0)."""
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    except ValueError as error:  # JAX's word for "no cluster detected" names its arguments
        if coordinator is None:
            raise ValueError(
                f"no cluster to join was detected ({error}): give the coordinator, the number "
                "of processes and this process's id"
            ) from None
        raise
    try:
        yield jax.process_index(), jax.process_count()
    finally:
        jax.distributed.shutdown()


def build_sharded_index(
    documents: Sequence[Document],
    directory: str | Path,
    config: IndexConfig,
    process_id: int,
    num_processes: int,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> dict:
    """This process's shard of `directory` (a complete index of its contiguous slice of the
    documents), then, once every process reported, `shards.json` from process 0; a summary.

    Every process of the job calls this with the same documents, inside `joined`. A process
    whose shard fails tells the others, and all raise ShardFailed naming it; a process that
    dies is noticed by jax.distributed's heartbeats, one that never reports by `timeout`."""
    directory = Path(directory)
    name = shard_name(process_id, num_processes)
    summary = None
    try:
        check_unique_ids(documents)  # across shards: no shard can see the others' ids
        _check_target(directory)
        mine = documents[shard_slice(len(documents), process_id, num_processes)]
        logging.info("shard %s: documents %d of %d", name, len(mine), len(documents))
        summary = build_corpus_index(mine, directory / name, config, progress)
        status = {"ok": True}
    except Exception as error:  # reported to every process, then raised below
        logging.exception("shard %s failed", name)
        status = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    _agree("built", status, process_id, num_processes, timeout)
    names = [shard_name(p, num_processes) for p in range(num_processes)]
    published = {"ok": True}
    if process_id == 0:
        try:
            manifest = write_shards_manifest(directory, names)
            logging.info(
                "%s: %s", directory / SHARDS, {k: manifest[k] for k in ("documents", "mentions")}
            )
            _drop_stale_shards(directory, names)
        except Exception as error:
            logging.exception("writing %s failed", directory / SHARDS)
            published = {"ok": False, "error": f"{SHARDS}: {type(error).__name__}: {error}"}
    _agree("published", published, process_id, num_processes, timeout)
    whole = json.loads((directory / SHARDS).read_text())
    sharded = {"shards": num_processes, **{k: whole[k] for k in ("documents", "mentions")}}
    return {**summary, "shard": name, "sharded": sharded}


def _check_target(directory: Path) -> None:
    """Refuses a directory that holds anything but a sharded index's files (any shard count)."""
    if (directory / MANIFEST).is_file():
        raise FileExistsError(f"{directory}: a single (unsharded) index; not replacing it")
    foreign = [
        p.name
        for p in (directory.iterdir() if directory.is_dir() else [])
        if not (p.name == SHARDS or SHARD_NAME.fullmatch(p.name) or p.name.startswith("."))
    ]
    if foreign:
        raise FileExistsError(
            f"{directory}: exists and is not a sharded index (holds {foreign[0]!r}); "
            "not building into it"
        )


def _drop_stale_shards(directory: Path, names: Sequence[str]) -> None:
    """Shards of an earlier build with another process count: shards.json no longer lists them."""
    for path in directory.iterdir():
        if SHARD_NAME.fullmatch(path.name) and path.name not in names:
            logging.info("removing %s: a shard of an earlier build", path)
            shutil.rmtree(path)
            (directory / f".{path.name}.lock").unlink(missing_ok=True)


def _agree(step: str, status: dict, process_id: int, count: int, timeout: float) -> None:
    """Posts this process's status of `step`, waits for every process's; raises ShardFailed
    naming the shards that failed or did not report within `timeout` seconds."""
    client = _coordination_client()
    prefix = f"ner_jax/index/{step}/"
    client.key_value_set(prefix + str(process_id), json.dumps(status))
    deadline, statuses = time.monotonic() + timeout, {}
    for p in range(count):
        wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
        try:
            statuses[p] = json.loads(client.blocking_key_value_get(prefix + str(p), wait_ms))
        except Exception:  # a deadline: list everyone still missing, not just this one
            reported = {int(k.rsplit("/", 1)[-1]) for k, _ in client.key_value_dir_get(prefix)}
            missing = [shard_name(q, count) for q in range(count) if q not in reported]
            raise ShardFailed(
                f"{step}: no word within {timeout:.0f}s from {', '.join(missing)} (stuck or "
                "much slower; a rerun reuses its finished batches)"
            ) from None
    failed = [f"{shard_name(p, count)}: {s['error']}" for p, s in statuses.items() if not s["ok"]]
    if failed:
        raise ShardFailed(f"{step}: " + "; ".join(failed))


def _coordination_client():
    """The jax.distributed runtime's key-value client (private API, isolated here).

    JAX's public barrier, multihost_utils.sync_global_devices, is a device collective: it
    needs cross-process CPU collectives (gloo), waits without a timeout and carries no
    message, so it cannot tell the others *which* shard failed and why. The key-value store
    of the distributed runtime does all three, and needs no collectives."""
    from jax._src import distributed

    client = distributed.global_state.client
    if client is None:
        raise RuntimeError("jax.distributed is not initialized: call inside `joined`")
    return client
