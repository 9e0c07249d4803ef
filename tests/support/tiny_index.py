"""A tiny corpus index's inputs and helpers: documents, a random head, sharded builds, hits."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from ner_jax.features.inputs import InputSpec
from ner_jax.head.file import save_head
from ner_jax.head.projection import ProjectionHead
from ner_jax.model.taps import resolve_tap
from support.reference import RTOL
from support.tiny_models import WORDS

SPEC = InputSpec(("v@1", "attn@2"), sentence_end=True)
FIRST = [
    {
        "id": "a1",
        "text": "the castle in edinburgh",
        "mentions": [["castle", "b"], ["edinburgh", "c"]],
    },
    {"id": "a2", "text": "python and rust", "mentions": [[0, 6], [11, 15]]},
    {"id": "a3", "text": "insulin and keratin", "mentions": [["insulin", "p"], ["keratin", "p"]]},
    {"id": "a4", "text": "curie visited paris", "mentions": [["curie", "s"], ["paris", "c"]]},
    {
        "id": "a5",
        "text": "the palace in lisbon and ajax",
        "mentions": [[4, 10], [14, 20], [25, 29]],
    },
    {"id": "a6", "text": "the old bridge", "mentions": []},
]
LATER = [
    {"id": "b1", "text": "turing wrote haskell", "mentions": [["turing", "s"], ["haskell", "l"]]},
    {"id": "b2", "text": "the tower of berlin", "mentions": [["tower", "b"], ["berlin", "c"]]},
]


def jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path


def write_head(path, model, seed):
    width = SPEC.width(resolve_tap(model, 2).config)
    params = ProjectionHead(12, 6, 0.1).init(jax.random.key(seed), np.zeros((1, width)))["params"]
    record = dict(model=model, taps=list(SPEC.taps), sentence_end=True, hidden=12, out=6)
    return str(save_head(path, params, {**record, "dropout": 0.1}))


def assert_same_hits(a, b, tolerance: float = 1e-6):
    assert [(h.doc_id, h.text) for h in a] == [(h.doc_id, h.text) for h in b]
    assert [m[:3] for h in a for m in h.mentions] == [m[:3] for h in b for m in h.mentions]
    scores = [m.score for h in b for m in h.mentions]
    assert [m.score for h in a for m in h.mentions] == pytest.approx(scores, abs=tolerance)


# Sharded builds: two `ner-jax index` processes under jax.distributed.
# One device per process keeps the children light and every build on the same jit shapes.
ENV = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
TIMEOUT = 240
# Shards are batched in other shapes than the whole corpus, and other shapes round differently:
# cosines of unit vectors agree to the fp32 rule (1e-5), not bit for bit.
FP32 = RTOL


def corpus(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    nouns = WORDS[WORDS.index("castle") : WORDS.index("lovelace") + 1]
    records = []
    for i in range(count):
        words = rng.sample(nouns, 2 + i % 3)
        records.append(
            {"id": f"d{i:02d}", "text": " and ".join(words), "mentions": [[w, "x"] for w in words]}
        )
    return records


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(*args, env=ENV) -> subprocess.Popen:
    command = [sys.executable, "-m", "ner_jax.cli", "index", *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each; every process is killed if one runs past TIMEOUT."""
    try:
        outs = [p.communicate(timeout=TIMEOUT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    return [
        (p.returncode, o.decode(), e.decode()) for p, (o, e) in zip(processes, outs, strict=True)
    ]


def sharded_build(inputs, index, model, head, env=ENV) -> list[tuple[int, str, str]]:
    common = ["--input", inputs, "--index", index, "--model", model, "--head", head]
    distributed = ["--num_processes", 2, "--coordinator", f"localhost:{free_port()}"]
    return finish([launch(*common, *distributed, "--process_id", k, env=env) for k in (0, 1)])
