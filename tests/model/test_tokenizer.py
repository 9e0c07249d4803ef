"""Tests for ner_jax.model.tokenizer: GGUF-built tokenizers against transformers' GGUF loader."""

import functools
import json
import re
from pathlib import Path

import gguf
import numpy as np
import pytest
import tokenizers
from support.shared_data import require_data
from tokenizers import models, pre_tokenizers, trainers

from ner_jax.features.extractor import mention_tokens
from ner_jax.model.registry import NAMED_MODELS
from ner_jax.model.tokenizer import Encoding, Tokenizer

TRICKY = [
    "",
    " ",
    "Hello world",
    " leading space",
    "trailing space ",
    "two  spaces and   three",
    "tabs\tand\nnew\n\nlines\n",
    "Zürich is in Switzerland.",
    "東京タワー and 北京",
    "emoji 🎉🚀 ok 👍🏽",
    "naïve café — “quotes”",
    "In 1984, 42 people paid $3.50 for 1,000 items.",
    "e-mail: a@b.co; URL https://x.org/a?b=1",
    "ALL CAPS and MiXeD CaSe can't won't I'd",
    "x" * 60,
]
TRAIN = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, hello there! The weather in Zürich is nice.",
    "In 1984, 42 people met at the conference on natural language processing.",
]


def _reference(path: Path):
    """transformers' tokenizer for a GGUF file (the behaviour we reproduce)."""
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def _gpt2_bytes() -> dict[str, int]:
    """GPT-2's byte alphabet, character -> byte."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    moved = [b for b in range(256) if b not in keep]
    return {**{chr(b): b for b in keep}, **{chr(256 + i): b for i, b in enumerate(moved)}}


def _token_bytes(tok: Tokenizer, token_id: int) -> bytes:
    piece = tok.backend.id_to_token(int(token_id))
    if isinstance(tok.backend.decoder, tokenizers.decoders.ByteLevel):
        return bytes(_gpt2_bytes()[c] for c in piece)
    if m := re.fullmatch(r"<0x([0-9A-F]{2})>", piece):
        return bytes([int(m[1], 16)])
    return piece.replace("\u2581", " ").encode()


def assert_offsets(tok: Tokenizer, text: str, enc: Encoding) -> None:
    """Each non-special token spans exactly the characters holding its bytes, its space included."""
    special = tok.backend.encode(text).special_tokens_mask
    assert enc.ids.dtype == np.int32 and enc.offsets.dtype == np.int32
    assert enc.offsets.shape == (len(enc.ids), 2) and len(special) == len(enc.ids)
    assert all(tuple(enc.offsets[i]) == (0, 0) for i, s in enumerate(special) if s)
    pieces = [(i, _token_bytes(tok, t)) for i, t in enumerate(enc.ids) if not special[i]]
    joined, data = b"".join(b for _, b in pieces), text.encode()
    prefix = len(joined) - len(data)  # Metaspace's prepended "▁" is the only byte not in `text`
    assert prefix in (0, 1) and joined[prefix:] == data, (text, joined)
    char_of_byte = np.repeat(np.arange(len(text)), [len(c.encode()) for c in text])
    pos = -prefix
    for i, piece in pieces:
        lo, pos = max(pos, 0), pos + len(piece)
        start, end = enc.offsets[i]
        # A prepended "▁" alone gets the first character's span, as in tokenizers.
        expected = char_of_byte[lo], char_of_byte[max(pos - 1, 0)] + 1
        assert (start, end) == expected, (text, i, piece)
        assert piece.decode(errors="ignore").strip() in text[start:end]


def assert_matches(tok: Tokenizer, ref, texts: list[str]) -> None:
    """Same ids as transformers, correct offsets, and encode_batch agrees with encode."""
    for text, enc in zip(texts, tok.encode_batch(texts), strict=True):
        assert enc.ids.tolist() == ref(text)["input_ids"], text
        assert_offsets(tok, text, enc)
        assert np.array_equal(enc.offsets, tok.encode(text).offsets)


def _same_structure(ours: Tokenizer, ref, skip=()) -> None:
    a, b = json.loads(ours.backend.to_str()), json.loads(ref.backend_tokenizer.to_str())
    for key in (
        "normalizer",
        "pre_tokenizer",
        "post_processor",
        "decoder",
        "model",
        "added_tokens",
    ):
        if key not in skip:
            assert a[key] == b[key], key


def _read_sentences(limit_per_file: int) -> list[str]:
    data = require_data("no real sentences to test on")
    files = sorted(data.glob("crossner/*/test.txt")) + [data / "multiconer2_en" / "en-dev.conll"]
    sentences = []
    for file in files:
        words, found = [], []
        for line in [*file.read_text(encoding="utf-8").splitlines(), ""]:
            if line.strip() and not line.startswith("# id"):
                words.append(line.split()[0])
            elif words:
                found.append(" ".join(words))
                words = []
        sentences += found[:limit_per_file]
    return sentences


# --- real GGUF files --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    # Real-weight tests never skip: scripts/setup.sh installs the packages, and a missing one
    # fails with the command that installs it.
    return NAMED_MODELS["gemma3-270m"].gguf_path()


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    return NAMED_MODELS["smollm2-135m"].gguf_path()


@pytest.fixture(scope="session", params=["gemma", "smollm"])
def real(request):
    path = request.getfixturevalue(f"{request.param}_gguf")
    return request.param, Tokenizer.from_gguf(path), _reference(path)


@pytest.mark.real_weights
def test_real_matches_transformers_on_sentences(real):
    _, tok, ref = real
    assert_matches(tok, ref, _read_sentences(limit_per_file=5))  # 30 sentences


@pytest.mark.real_weights
def test_real_matches_transformers(real):
    name, tok, ref = real
    assert_matches(tok, ref, TRICKY + TRAIN)
    # smollm differs on purpose in the pre-tokenizer only (see test_smollm_splits_digits).
    _same_structure(tok, ref, skip=("pre_tokenizer",) if name == "smollm" else ())
    assert tok.vocab_size == len(ref)


@pytest.mark.real_weights
def test_real_bos_policy(real):
    name, tok, _ = real
    enc = tok.encode("Hello")
    if name == "gemma":
        assert tok.bos_id == 2 and tok.pad_id == 0 and tok.vocab_size == 262_144
        assert enc.ids[0] == 2 and tuple(enc.offsets[0]) == (0, 0)
        assert tok.encode("").ids.tolist() == [2]
    else:
        assert tok.bos_id is None and tok.pad_id == 2 and tok.vocab_size == 49_152
        assert tok.encode("").ids.tolist() == [] and enc.ids[0] != 1
    assert tok.decode(enc.ids) == "Hello"


@pytest.mark.real_weights
def test_real_save_round_trip(real, tmp_path):
    _, tok, _ = real
    tok.save(tmp_path / "tokenizer.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json", "tokenizer_config.json"]
    back = Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert (back.bos_id, back.pad_id, back.vocab_size) == (tok.bos_id, tok.pad_id, tok.vocab_size)
    for text in TRICKY + TRAIN:
        a, b = tok.encode(text), back.encode(text)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.offsets, b.offsets)
    # The BOS policy lives in tokenizer.json itself, for any other reader of it.
    plain = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert plain.encode("Hi").ids == tok.encode("Hi").ids.tolist()


@pytest.mark.real_weights
def test_smollm_splits_digits(smollm_gguf):
    # llama.cpp's "smollm" pre-tokenizer (and SmolLM2's tokenizer.json) split every digit off
    # before the GPT-2 regex. transformers does not know "smollm" and uses the plain GPT-2 regex,
    # which keeps " 42" together; its vocabulary has no multi-digit merges, so both agree on
    # ordinary text, but not where a run of spaces precedes a digit.
    tok = Tokenizer.from_gguf(smollm_gguf)
    pieces = tok.backend.encode("In 1984, 42 people").tokens
    assert pieces == ["In", "Ġ", "1", "9", "8", "4", ",", "Ġ", "4", "2", "Ġpeople"]
    assert tok.backend.encode("x  42").tokens == ["x", "ĠĠ", "4", "2"]  # transformers: Ġ, Ġ, 4, 2
    assert tok.backend.encode("x ½").tokens == ["x", "Ġ", "Â½"]  # transformers: ĠÂ, ½
    assert [p for p, _ in tok.backend.pre_tokenizer.pre_tokenize_str("a 123")] == [
        "a",
        "Ġ",
        "1",
        "2",
        "3",
    ]


# --- tiny GGUF files written here ----------------------------------------------------------------


def _train(pre_tokenizer, alphabet=()) -> tuple[list[str], list[str]]:
    """Tokens (in id order) and merges of a small BPE trained on TRAIN."""
    backend = tokenizers.Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=list(alphabet), show_progress=False
    )
    backend.train_from_iterator(TRAIN * 5, trainer)
    vocab = backend.get_vocab()
    merges = json.loads(backend.to_str())["model"]["merges"]
    return sorted(vocab, key=vocab.get), [" ".join(m) for m in merges]


def _write(path: Path, arch: str, model: str, tokens, types, **extra) -> Path:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_tokenizer_model(model)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    if "pre" in extra:
        writer.add_tokenizer_pre(extra["pre"])
    if "merges" in extra:
        writer.add_token_merges(extra["merges"])
    if "scores" in extra:
        writer.add_token_scores(extra["scores"])
    for key in ("bos", "eos", "unk", "pad"):
        if key in extra:
            getattr(writer, f"add_{key}_token_id")(extra[key])
    if "add_bos" in extra:
        writer.add_add_bos_token(extra["add_bos"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@functools.cache
def _byte_level_vocab(split_digits: bool) -> tuple[list[str], list[str]]:
    level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if split_digits:  # as SmolLM2 was trained: no merges across digits
        level = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), level])
    learned, merges = _train(level, pre_tokenizers.ByteLevel.alphabet())
    return ["<|endoftext|>", "<think>", *learned], merges


@pytest.mark.parametrize("pre", [None, "llama-bpe", "qwen2", "smollm"])
def test_tiny_byte_level(tmp_path, pre):
    tokens, merges = _byte_level_vocab(split_digits=pre == "smollm")
    types = [3, 4] + [1] * (len(tokens) - 2)
    extra = {"pre": pre} if pre else {}
    path = _write(
        tmp_path / "bpe.gguf", "llama", "gpt2", tokens, types, merges=merges, bos=0, **extra
    )
    tok, ref = Tokenizer.from_gguf(path), _reference(path)
    assert_matches(tok, ref, TRAIN + TRICKY + ["<think>yes<|endoftext|>"])
    _same_structure(tok, ref, skip=("pre_tokenizer",) if pre == "smollm" else ())
    assert tok.bos_id is None and tok.encode("<think>").ids.tolist() == [1]
    if pre == "smollm":
        ours = tok.backend.pre_tokenizer.pre_tokenize_str("x  42")
        theirs = ref.backend_tokenizer.pre_tokenizer.pre_tokenize_str("x  42")
        assert [p for p, _ in ours] == ["x", "ĠĠ", "4", "2"]
        assert [p for p, _ in theirs] == ["x", "Ġ", "Ġ42"]


def _sentencepiece_file(path: Path, arch: str) -> Path:
    learned, _ = _train(pre_tokenizers.Metaspace())  # the file carries no merges
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    if arch == "gemma3":
        head = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "\n", "  ", "   "]
        head_types = [3, 3, 3, 3, 3, 4, 4, 4]
        ids = {"bos": 2, "eos": 1, "unk": 3, "pad": 0}
    else:
        head, head_types, ids = ["<unk>", "<s>", "</s>"], [2, 3, 3], {"unk": 0, "bos": 1, "eos": 2}
    tokens = head + bytes_ + learned
    types = head_types + [6] * 256 + [1] * len(learned)
    # Scores against file order: Gemma must rank merges by file order, Llama by score.
    scores = [0.0] * (len(head) + 256) + [-float(i) for i in range(len(learned))]
    if arch == "gemma3":
        scores = scores[::-1]
    return _write(path, arch, "llama", tokens, types, scores=scores, **ids)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_tiny_sentencepiece(tmp_path, arch):
    path = _sentencepiece_file(tmp_path / "spm.gguf", arch)
    tok, ref = Tokenizer.from_gguf(path), _reference(path)
    assert_matches(tok, ref, TRAIN + TRICKY)
    _same_structure(tok, ref)
    bos = 2 if arch == "gemma3" else 1
    assert tok.bos_id == bos and tok.encode("the").ids[0] == bos
    assert tok.decode(tok.encode("Zürich 🎉").ids) == "Zürich 🎉"


def test_tiny_save_round_trip(tmp_path):
    tok = Tokenizer.from_gguf(_sentencepiece_file(tmp_path / "spm.gguf", "gemma3"))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tokenizer_config.json").write_text('{"model_max_length": 7}')
    tok.save(tmp_path / "out")
    back = Tokenizer.from_file(tmp_path / "out" / "tokenizer.json")
    assert (back.bos_id, back.pad_id, back.vocab_size) == (tok.bos_id, tok.pad_id, tok.vocab_size)
    assert (
        json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())["model_max_length"]
        == 7
    )
    for text in TRICKY:
        assert np.array_equal(tok.encode(text).offsets, back.encode(text).offsets)
        assert np.array_equal(tok.encode(text).ids, back.encode(text).ids)


def test_from_file_without_config(tmp_path):
    backend = tokenizers.Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "hi": 2}, "[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.save(str(tmp_path / "tokenizer.json"))
    tok = Tokenizer.from_file(tmp_path / "tokenizer.json")
    assert (tok.bos_id, tok.pad_id) == (None, 0)
    assert tok.encode("hi  hi").offsets.tolist() == [[0, 2], [4, 6]]


def test_split_regexes_match_transformers():
    mapping = pytest.importorskip("transformers.integrations.gguf.gguf_tokenizer_mapping")
    from ner_jax.model import tokenizer

    assert tokenizer._SPLITS == mapping.GGUF_PRE_TOKENIZER_SPLITS


# --- bad input and helpers -------------------------------------------------------------------


def test_unknown_model_type(tmp_path):
    path = _write(tmp_path / "odd.gguf", "bert", "bert", ["[PAD]", "a"], [3, 1])
    with pytest.raises(ValueError, match=r"odd\.gguf.*'bert'"):
        Tokenizer.from_gguf(path)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.gguf"):
        Tokenizer.from_gguf(tmp_path / "nope.gguf")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        Tokenizer.from_file(tmp_path / "nope.json")
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError, match="junk.gguf"):
        Tokenizer.from_gguf(tmp_path / "junk.gguf")


def test_mention_tokens_on_a_gguf_encoding(tmp_path):
    tok = Tokenizer.from_gguf(_sentencepiece_file(tmp_path / "spm.gguf", "gemma3"))
    text = "The weather in Zürich is nice."
    start = text.index("Zürich")
    enc = tok.encode(text)
    (last,) = mention_tokens(enc.offsets, [(start, start + len("Zürich"))])
    assert enc.offsets[last][0] < start + len("Zürich") <= enc.offsets[last][1]
    assert text[enc.offsets[last][0] : enc.offsets[last][1]].strip() in "Zürich"
    assert enc.offsets[last + 1][0] >= start + len("Zürich")
