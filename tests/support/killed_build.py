"""Builds an index as a kill would stop it: `python killed_build.py DOCS INDEX MODEL HEAD N`."""

from __future__ import annotations

import os
import sys

from ner_jax.index.build import IndexConfig, build_corpus_index
from ner_jax.index.documents import read_documents
from ner_jax.index.encoder import Encoded

KILLED_EXIT_CODE = 99


def exit_after_saves(count: int) -> None:
    """Makes the process exit with KILLED_EXIT_CODE right after the `count`-th batch was saved
    to the work directory, abruptly (os._exit: no cleanup or exception handlers, as a kill)."""
    save, saved = Encoded.save, []

    def save_then_maybe_die(self, path):
        save(self, path)
        saved.append(path)
        if len(saved) == count:
            os._exit(KILLED_EXIT_CODE)

    Encoded.save = save_then_maybe_die


def main(documents: str, index: str, model: str, head: str, batches: str) -> None:
    exit_after_saves(int(batches))
    config = IndexConfig(model=model, head=head, batch_docs=2)
    build_corpus_index(read_documents([documents]), index, config, progress=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
