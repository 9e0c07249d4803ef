"""Reduce a head's output to its top principal directions, fitted on training mentions.

  D=../shared/data; python experiments/fit_projection.py --workdir /work/runs/projection \
      --data $D/multiconer2_en/en-train10.conll --data $D/crossner/ai/train.txt --dims 384 \
      --out ner_jax/heads/gemma3-270m.safetensors

Each --data file's gold mentions are encoded by the head without any projection it has (cached
per file in WORKDIR, so a rerun or another --dims reads them back), the projection is fitted on
all of them together and written with the head to --out (record: files, mentions, kept energy).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "workdir", None, "cache of encoded mentions, one file per --data", required=True
)
flags.DEFINE_multi_string("data", [], "labelled files whose gold mentions are fitted on")
flags.DEFINE_integer("dims", 384, "output width")
flags.DEFINE_string("model", "gemma3-270m", "named model")
flags.DEFINE_string("head", None, "head file (default: the model's shipped head)")
flags.DEFINE_string("out", None, "where to write the reduced head", required=True)


def encoded_vectors(encoder, path: str, workdir: Path):
    """[M, mixed width] unreduced vectors of the file's gold mentions, cached in workdir."""
    from ner_jax.index import Encoded, read_documents

    # The record as a dict, as the cache keys were made before it became a dataclass.
    record = encoder.record.to_json()
    key = hashlib.sha256(f"{Path(path).resolve()}|{record}".encode()).hexdigest()[:16]
    cache = workdir / f"{Path(path).stem}-{key}.npz"
    if not cache.is_file():
        encoder.documents(read_documents([path])).save(cache)
    return Encoded.load(cache).vectors


def main(argv: list[str]) -> None:
    del argv
    import numpy as np

    from ner_jax.detector import NO_DETECTOR
    from ner_jax.head import add_projection, save_head
    from ner_jax.index import CorpusEncoder, resolve_head

    if not FLAGS.data:
        raise app.UsageError("give at least one --data file")
    head_path = resolve_head(FLAGS.model, FLAGS.head)
    # The full mixed vectors, whatever projection the file has.
    encoder = CorpusEncoder.load(FLAGS.model, head_path, detector=NO_DETECTOR).unreduced()
    head = encoder.head
    workdir = Path(FLAGS.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    vectors = np.concatenate([encoded_vectors(encoder, f, workdir) for f in FLAGS.data])
    digests = {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in FLAGS.data}
    reduced = add_projection(
        head, vectors, FLAGS.dims, {"files": list(FLAGS.data), "sha256": digests}
    )
    save_head(FLAGS.out, reduced.params, reduced.record)
    logging.info(
        "%s: %d -> %d dims, fitted on %d mentions, kept energy %.4f",
        FLAGS.out,
        head.out_width,
        FLAGS.dims,
        len(vectors),
        reduced.record["projection"]["kept_energy"],
    )


if __name__ == "__main__":
    from ner_jax.cli import run_launcher

    run_launcher(main)
