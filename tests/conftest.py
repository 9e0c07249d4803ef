"""Shared test settings (offline transformers, a per-run weight cache unless one is given) and
the fixtures that tests in several directories use."""

from __future__ import annotations

import os

import pytest

# transformers must never try the hub; the reference models are built or read locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


# Fixtures shared by several test directories. Each builds a tiny model (and more) once a session;
# they import lazily so that a session needing none of them does not load torch.


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory):
    """A tiny model, two random heads and an index of tiny_index.FIRST built with the first:
    (root, model, heads, config, summary)."""
    from support.tiny_index import FIRST, jsonl, write_head
    from support.tiny_models import tiny_checkpoint

    from ner_jax.index.build import IndexConfig, build_corpus_index
    from ner_jax.index.documents import read_documents

    root = tmp_path_factory.mktemp("corpus")
    model = str(tiny_checkpoint(root / "model"))
    heads = [write_head(root / f"head{i}.safetensors", model, i) for i in range(2)]
    first = read_documents([jsonl(root / "first.jsonl", FIRST)])
    config = IndexConfig(model=model, head=heads[0], batch_docs=2)
    summary = build_corpus_index(first, root / "index", config, progress=False)
    return root, model, heads, config, summary


@pytest.fixture(scope="session")
def sharded_index(tmp_path_factory):
    """The same 16 documents indexed by two jax.distributed processes (root / "sharded") and by
    one (root / "single"): (root, model, head, runs)."""
    from support.tiny_index import corpus, finish, jsonl, launch, sharded_build, write_head
    from support.tiny_models import tiny_checkpoint

    root = tmp_path_factory.mktemp("sharded")
    model = str(tiny_checkpoint(root / "model"))
    head = write_head(root / "head.safetensors", model, 0)
    records = corpus(16, 0)
    records[8] = {**records[7], "id": "twin"}  # the same text on both sides of the boundary
    inputs = jsonl(root / "docs.jsonl", records)
    single = launch("--input", inputs, "--index", root / "single", "--model", model, "--head", head)
    runs = sharded_build(inputs, root / "sharded", model, head) + finish([single])
    for code, _, stderr in runs:
        assert code == 0, stderr[-3000:]
    return root, model, head, runs


@pytest.fixture(scope="session")
def eval_corpus(tmp_path_factory):
    """Two labelled files (a.txt, b.txt), a tiny BERT (bert) and a tiny model: (root, model)."""
    from support.tiny_models import CORPUS_A, CORPUS_B, WORDS, tiny_bert, tiny_checkpoint

    root = tmp_path_factory.mktemp("eval")
    (root / "a.txt").write_text(CORPUS_A)
    (root / "b.txt").write_text(CORPUS_B)
    tiny_bert(root / "bert", WORDS[3:])
    return root, str(tiny_checkpoint(root / "model"))


@pytest.fixture(scope="session")
def markup_index(tmp_path_factory):
    """(directory, model, head) of an index of tiny_index.FIRST and a document with markup."""
    from support.served import MARKUP
    from support.tiny_index import FIRST, jsonl, write_head
    from support.tiny_models import tiny_checkpoint

    from ner_jax.index import IndexConfig, build_corpus_index, read_documents

    root = tmp_path_factory.mktemp("served")
    model = str(tiny_checkpoint(root / "model"))
    head = write_head(root / "head.safetensors", model, 0)
    documents = read_documents([jsonl(root / "docs.jsonl", [*FIRST, MARKUP])])
    config = IndexConfig(model=model, head=head, batch_docs=len(documents))
    build_corpus_index(documents, root / "index", config, progress=False)
    return root / "index", model, head
