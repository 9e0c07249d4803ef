"""Tiny random transformers decoders saved to disk, one per supported family, for parity tests."""

from __future__ import annotations

from pathlib import Path

import tokenizers
import torch
import transformers

# Distinct sizes so that a transposed or mis-split tensor cannot pass by accident.
_COMMON = dict(
    vocab_size=97,
    hidden_size=48,
    intermediate_size=72,
    num_hidden_layers=4,
    num_attention_heads=6,
    num_key_value_heads=2,
    head_dim=12,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
)

_FAMILY = {
    # Llama 3.1 rope scaling, with a short original context so that it changes the frequencies.
    "llama": dict(
        rope_parameters=dict(
            rope_type="llama3",
            rope_theta=500_000.0,
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=32,
        )
    ),
    "mistral": dict(sliding_window=5, rope_theta=10_000.0),
    "qwen2": dict(rope_theta=1_000_000.0),
    # Layers 0-2 slide over 4 tokens, layer 3 is global; each kind has its own rope base.
    "gemma3": dict(
        sliding_window=4,
        query_pre_attn_scalar=20,
        layer_types=["sliding_attention"] * 3 + ["full_attention"],
        rope_parameters={
            "full_attention": dict(rope_type="default", rope_theta=1_000_000.0),
            "sliding_attention": dict(rope_type="default", rope_theta=10_000.0),
        },
    ),
}
_CLASSES = {
    "llama": transformers.LlamaConfig,
    "mistral": transformers.MistralConfig,
    "qwen2": transformers.Qwen2Config,
    "gemma3": transformers.Gemma3TextConfig,
}
FAMILIES = tuple(_FAMILY)


def hf_config(family: str, **overrides) -> transformers.PretrainedConfig:
    return _CLASSES[family](**{**_COMMON, **_FAMILY[family], **overrides})


def make_model(family: str, seed: int = 0, **overrides) -> transformers.PreTrainedModel:
    """A random model with every parameter (norms and biases too) drawn away from its init."""
    torch.manual_seed(seed)
    config = hf_config(family, **overrides)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name:
                param.copy_(1.0 + 0.3 * torch.randn_like(param))
            else:
                param.copy_(0.3 * torch.randn_like(param))
    return model


def save_model(model, directory: Path, shard: bool = False) -> Path:
    # A small max_shard_size forces several safetensors files and an index.
    model.save_pretrained(directory, max_shard_size="20KB" if shard else "10GB")
    return directory


# A word-level vocabulary for tiny end-to-end runs (ids < 97, the tiny models' vocab size).
WORDS = (
    "<pad> <bos> <unk> the a in of and is was has to from at on by with for old new big small "
    "castle lake city river tower bridge church palace museum park island mountain "
    "edinburgh stirling paris lisbon porto madrid berlin oban geneva constance "
    "python rust fortran haskell ocaml java perl ruby "
    "insulin keratin collagen akt dystrophin haemoglobin "
    "celtic rangers ajax liverpool bayern "
    "curie meitner turing lovelace "
    "protein language club scientist programming football visited built wrote found"
).split()


def word_tokenizer():
    """A ner_jax Tokenizer over WORDS that adds <bos>, like Gemma's."""
    from ner_jax.model.tokenizer import Tokenizer

    backend = tokenizers.Tokenizer(
        tokenizers.models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>")
    )
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    backend.post_processor = tokenizers.processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", 1)]
    )
    return Tokenizer(backend, bos_id=1, pad_id=0)


def tiny_checkpoint(directory: Path, family: str = "llama") -> Path:
    """A tiny random decoder with the word tokenizer, as an HF directory `load_model` accepts."""
    save_model(make_model(family), directory)
    word_tokenizer().save(directory / "tokenizer.json")
    return directory


BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def bert_tokenizer(words: list[str]) -> tokenizers.Tokenizer:
    """Word-level [CLS] ... [SEP] tokenizer over BERT_SPECIALS + words."""
    vocab = {token: i for i, token in enumerate(BERT_SPECIALS + list(words))}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    tok.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tok


def tiny_bert(directory: Path, words: list[str], max_positions: int = 64, seed: int = 0):
    """A saved random BertModel (every parameter moved away from its init) + tokenizer.json."""
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=len(BERT_SPECIALS) + len(words),
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=3,
        intermediate_size=72,
        max_position_embeddings=max_positions,
        type_vocab_size=2,
        hidden_act="gelu",
    )
    model = transformers.BertModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            scale = 1.0 if "LayerNorm.weight" in name else 0.0
            param.copy_(scale + 0.3 * torch.randn_like(param))
    model.save_pretrained(directory)
    bert_tokenizer(words).save(str(directory / "tokenizer.json"))
    return model


NAMES = WORDS[WORDS.index("edinburgh") : WORDS.index("lovelace") + 1]
_PLAIN = WORDS[WORDS.index("the") : WORDS.index("mountain") + 1]


def named_sentences(count: int, seed: int) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Random sentences over WORDS in which the names (and "NAME castle") are the mentions."""
    import random

    rng = random.Random(seed)
    texts, spans = [], []
    for _ in range(count):
        words, found = [], []
        for _ in range(rng.randint(4, 12)):
            if rng.random() < 0.25:
                name = rng.choice(NAMES) + (" castle" if rng.random() < 0.3 else "")
                start = len(" ".join(words)) + (1 if words else 0)
                found.append((start, start + len(name)))
                words.append(name)
            else:
                words.append(rng.choice(_PLAIN))
        texts.append(" ".join(words))
        spans.append(found)
    return texts, spans


def tiny_detector(path: Path, model: str, taps=("resid_in@0", "v@0"), steps: int = 300):
    """Trains a detector of NAMES on a tiny model's activations; returns its weights path.

    The default taps keep the word: a random model's later blocks scramble it (a linear probe
    of resid_out@2 does no better than always saying O)."""
    from ner_jax.detector.data import extract_tokens
    from ner_jax.detector.tagger import save_detector
    from ner_jax.detector.training import DetectorTrainConfig, train_detector
    from ner_jax.features.extractor import extractor_for

    extractor = extractor_for(model, taps)
    data = [
        extract_tokens(extractor, *named_sentences(n, seed), taps, progress=False)
        for n, seed in ((300, 0), (60, 1))
    ]
    config = DetectorTrainConfig(
        tuple(taps), hidden=32, steps=steps, batch_texts=16, eval_every=100, learning_rate=3e-3
    )
    detector, log = train_detector(config, model, [data[0]], [data[1]])
    return save_detector(path, detector.params, {**detector.record, "log": log})


# Short texts with mentions; "berlin" falls past a 6-token limit, the last text has none.
SHORT_TEXTS = [
    "the castle in edinburgh is old",
    "python and rust",
    "insulin",
    "curie and meitner visited paris and lisbon and porto and madrid and berlin",
    "the",
]
SHORT_SPANS = [[(4, 10), (14, 23)], [(0, 6), (11, 15)], [(0, 7)], [(0, 5), (10, 17), (67, 73)], []]


# Two tiny labelled corpora for evaluate and probe (tests/conftest.py `eval_corpus`); "the castle
# in edinburgh" is in them three times: duplicate documents.
CORPUS_A = """the\tO
castle\tB-building
in\tO
edinburgh\tB-city

python\tB-language
and\tO
rust\tB-language

insulin\tB-protein
and\tO
keratin\tB-protein

the\tO
castle\tB-building
in\tO
edinburgh\tB-city
"""
CORPUS_B = """curie\tB-scientist
visited\tO
paris\tB-city

the\tO
palace\tB-building
in\tO
lisbon\tB-city
and\tO
ajax\tB-misc

the\tO
castle\tB-building
in\tO
edinburgh\tB-city
"""
