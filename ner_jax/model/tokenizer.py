"""Tokenizers built from GGUF metadata or an HF tokenizer.json, giving ids and character offsets."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tokenizers
from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors

from ner_jax.files import atomic
from ner_jax.model.gguf_checkpoint import open_gguf

_CONTROL, _USER_DEFINED = 3, 4  # llama.cpp token types
_GEMMA_ARCHS = ("gemma", "gemma2", "gemma3")
_SPACE = "\u2581"  # sentencepiece's visible space

# Split regexes for `tokenizer.ggml.pre`, as transformers' GGUF_PRE_TOKENIZER_SPLITS has them.
_END = r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}" + _END
_QWEN2 = _LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")
_QWEN35 = _QWEN2.replace(r"?\p{L}+", r"?[\p{L}\p{M}]+").replace(r"[^\s\p{L}", r"[^\s\p{L}\p{M}")
_GPT4O = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}" + _END.replace(r"[\r\n]*", r"[\r\n/]*")
)
_TEKKEN = _GPT4O.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)?", "").replace(r"\p{N}{1,3}", r"\p{N}")
_SPLITS = {
    **dict.fromkeys(
        "llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2 jina-v5-nano dbrx "
        "smaug-bpe".split(),
        _LLAMA3,
    ),
    **dict.fromkeys("qwen2 deepseek-r1-qwen kormo f2llmv2 megrez".split(), _QWEN2),
    **dict.fromkeys("gpt-4o llama4 kanana2 talkie minimax-m2".split(), _GPT4O),
    "qwen35": _QWEN35,
    "tekken": _TEKKEN,
}


@dataclasses.dataclass(frozen=True)
class Encoding:
    """Token ids [N] int32 and character offsets [N, 2] int32; (0, 0) marks special tokens.

    A token that carries a leading space ("▁x" / "Ġx") has that space inside its span. The "▁" a
    Llama-style sentencepiece tokenizer prepends to the text has no character of its own; like
    tokenizers, we give it the first character's span.
    """

    ids: np.ndarray
    offsets: np.ndarray


class Tokenizer:
    """Wraps tokenizers.Tokenizer; encode() gives ids and character offsets."""

    def __init__(self, backend: tokenizers.Tokenizer, bos_id: int | None, pad_id: int):
        self.backend, self.bos_id, self.pad_id = backend, bos_id, pad_id
        self.vocab_size = backend.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_file(cls, path) -> Tokenizer:
        """Load an HF tokenizer.json; pad_token comes from a tokenizer_config.json beside it."""
        path = _json_path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        backend = tokenizers.Tokenizer.from_file(str(path))
        config_path = path.with_name("tokenizer_config.json")
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        pad = config.get("pad_token")
        pad_id = (
            backend.token_to_id(pad["content"] if isinstance(pad, dict) else pad) if pad else None
        )
        if pad_id is None:
            pad_id = backend.padding["pad_id"] if backend.padding else 0
        # The post-processor is the BOS policy: bos_id is whatever special token it puts first.
        probe = backend.encode("a")
        bos_id = probe.ids[0] if probe.special_tokens_mask[:1] == [1] else None
        return cls(backend, bos_id, pad_id)

    @classmethod
    def from_gguf(cls, path) -> Tokenizer:
        """Build the tokenizer a GGUF file describes, as transformers' GGUF loader does."""
        meta = _read_gguf(path)
        kind, tokens = meta.get("tokenizer.ggml.model"), meta.get("tokenizer.ggml.tokens")
        if kind == "llama" and tokens:
            backend = _sentencepiece(meta, meta.get("general.architecture") in _GEMMA_ARCHS)
        elif kind == "gpt2" and tokens:
            backend = _byte_level(meta)
        else:
            raise ValueError(
                f"{path}: unsupported tokenizer.ggml.model {kind!r} (need llama or gpt2)"
            )
        _add_special_tokens(backend, meta)

        def token_id(key):
            index = meta.get(f"tokenizer.ggml.{key}_token_id")
            return None if index is None else backend.token_to_id(tokens[index])

        bos, eos = token_id("bos"), token_id("eos")
        # llama.cpp adds BOS to a sentencepiece vocabulary unless the file says otherwise.
        add_bos = bos is not None and meta.get("tokenizer.ggml.add_bos_token", kind == "llama")
        add_eos = eos is not None and meta.get("tokenizer.ggml.add_eos_token", False)
        first = [tokens[bos]] if add_bos else []
        last = [tokens[eos]] if add_eos else []
        single = [f"{t}:0" for t in first] + ["$A:0"] + [f"{t}:0" for t in last]
        pair = single + [f"{t}:1" for t in first] + ["$B:1"] + [f"{t}:1" for t in last]
        specials = [(t, backend.token_to_id(t)) for t in first + last]
        backend.post_processor = processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=specials
        )
        pad = token_id("padding")
        return cls(backend, bos if add_bos else None, 0 if pad is None else pad)

    def save(self, path) -> None:
        """Write tokenizer.json and its tokenizer_config.json sidecar (pad/bos), each atomically."""
        path = _json_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, self.backend.to_str(pretty=True))
        config_path = path.with_name("tokenizer_config.json")
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        bos = None if self.bos_id is None else self.backend.id_to_token(self.bos_id)
        config.update(
            bos_token=bos,
            add_bos_token=bos is not None,
            pad_token=self.backend.id_to_token(self.pad_id),
        )
        atomic.write_text(config_path, json.dumps(config, indent=2, ensure_ascii=False))

    def encode(self, text: str) -> Encoding:
        """Ids and character offsets of `text`, with the special tokens the model wants (BOS)."""
        return _encoding(self.backend.encode(text))

    def encode_batch(self, texts: Sequence[str]) -> list[Encoding]:
        """encode() for many texts, in parallel."""
        return [_encoding(e) for e in self.backend.encode_batch(list(texts))]

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Text of `ids`."""
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)


def _encoding(enc: tokenizers.Encoding) -> Encoding:
    offsets = np.asarray(enc.offsets, dtype=np.int32).reshape(-1, 2)
    return Encoding(np.asarray(enc.ids, dtype=np.int32), offsets)


def _json_path(path) -> Path:
    path = Path(path)
    return path / "tokenizer.json" if path.is_dir() else path


def _read_gguf(path) -> dict:
    reader = open_gguf(path)
    keep = ("general.architecture", "tokenizer.ggml.")
    return {k: f.contents() for k, f in reader.fields.items() if k.startswith(keep)}


def _sentencepiece(meta: dict, gemma: bool) -> tokenizers.Tokenizer:
    """transformers' LlamaTokenizer / GemmaTokenizer, with merges rebuilt from the vocabulary."""
    tokens = meta["tokenizer.ggml.tokens"]
    if gemma:
        # Gemma stores runs of spaces as real spaces but looks them up as "▁▁"; its scores do not
        # follow merge order, file order does (transformers' gemma_tokenizer).
        tokens = [_SPACE * len(t) if " " in t and not t.strip() else t for t in tokens]
        scores = {t: -i for i, t in enumerate(tokens)}
    else:
        scores = dict(zip(tokens, meta["tokenizer.ggml.scores"], strict=True))
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = _merges(meta, vocab, scores)
    unk = {"unk_token": "<unk>"} if gemma else {}  # LlamaTokenizer leaves the BPE's unk unset
    backend = tokenizers.Tokenizer(
        models.BPE(vocab, merges, fuse_unk=True, byte_fallback=True, dropout=None, **unk)
    )
    steps = [decoders.Replace(_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if gemma:
        backend.normalizer = normalizers.Replace(" ", _SPACE)
        backend.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    else:
        # transformers ignores tokenizer.ggml.add_space_prefix and always prepends "▁" once.
        backend.pre_tokenizer = pre_tokenizers.Metaspace(
            _SPACE, prepend_scheme="first", split=False
        )
        steps.append(decoders.Strip(" ", 1, 0))
    backend.decoder = decoders.Sequence(steps)
    return backend


def _merges(meta: dict, vocab: dict, scores: dict) -> list[tuple[str, str]]:
    """The file's merges, else transformers' generate_merges: every split of a token into two
    vocabulary pieces, ranked by the token's score, then the longer left piece."""
    if "tokenizer.ggml.merges" in meta:
        return [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    merges = []
    for token, score in scores.items():
        pieces = [(token[:i], token[i:]) for i in range(1, len(token))]
        local = [(a, b, score) for a, b in pieces if a in vocab and b in vocab]
        merges += sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]]))
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(a, b) for a, b, _ in merges]


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte."""
    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    moved = [b for b in range(256) if b not in keep]
    return {**{b: chr(b) for b in keep}, **{b: chr(256 + i) for i, b in enumerate(moved)}}


def _byte_level(meta: dict) -> tokenizers.Tokenizer:
    """transformers' GPT2Tokenizer plus the split regex of `tokenizer.ggml.pre`."""
    spelling = _byte_alphabet()
    alphabet = set(spelling.values())
    vocab = {
        t if set(t) <= alphabet else "".join(spelling[b] for b in t.encode()): i
        for i, t in enumerate(meta["tokenizer.ggml.tokens"])
    }
    merges = _merges(meta, vocab, {})
    backend = tokenizers.Tokenizer(
        models.BPE(vocab, merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="")
    )
    pre = meta.get("tokenizer.ggml.pre")
    if pre in _SPLITS:
        split = pre_tokenizers.Split(Regex(_SPLITS[pre]), behavior="isolated")
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
        )
    elif pre == "smollm":
        # llama.cpp splits every digit off (regex "\p{N}") before the GPT-2 regex, as SmolLM2's
        # own tokenizer.json does. transformers does not know "smollm" and keeps " 42" whole;
        # with no merges across digits in the vocabulary that mostly agrees, but not always:
        # "x  42" is x|ĠĠ|4|2 here and x|Ġ|Ġ|4|2 there, " ½" is Ġ|Â½ here and ĠÂ|½ there.
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(False)]
        )
    else:
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return backend


def _add_special_tokens(backend: tokenizers.Tokenizer, meta: dict) -> None:
    """Keep control tokens (and bos/eos/unk/pad) whole as special tokens, user-defined ones as
    plain added tokens, as transformers' add_gguf_special_tokens does."""
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta.get("tokenizer.ggml.token_type") or [0] * len(tokens)
    # In a byte-level vocabulary a "control" token outside the byte alphabet is a llama.cpp
    # mislabel; adding it would grow the vocabulary, so transformers skips it and so do we.
    alphabet = set(_byte_alphabet().values()) if meta["tokenizer.ggml.model"] == "gpt2" else None
    control = [
        t
        for t, k in zip(tokens, types, strict=True)
        if k == _CONTROL and (not alphabet or set(t) <= alphabet)
    ]
    named = ("bos", "eos", "unknown", "padding")
    ids = [meta.get(f"tokenizer.ggml.{name}_token_id") for name in named]
    control += [tokens[i] for i in ids if i is not None]
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
    vocab = backend.get_vocab(with_added_tokens=False)
    user = [t for t, k in zip(tokens, types, strict=True) if k == _USER_DEFINED and t in vocab]
    backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])
