"""The projection head over tapped activations, and its two contrastive losses.

Axis legend: A type-name anchors, P positives, N negatives, M mentions, D head output width.
All similarities are cosines of L2-normalised head outputs.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from ner_jax.features import l2_normalise


class ProjectionHead(nn.Module):
    """The paper's head: Linear(in, hidden) -> SiLU -> Dropout -> Linear(hidden, out).

    With `skip` > 0 the output is [sqrt(skip) * unit(x), sqrt(1 - skip) * unit(head(x))]: a
    unit vector whose cosines are skip * (input cosine) + (1 - skip) * (head cosine). The input
    geometry carries type distinctions the training types never taught (unseen types); the
    head adds what training did teach.
    """

    hidden: int = 500
    out: int = 500
    dropout: float = 0.1
    skip: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        h = nn.Dense(self.hidden, name="fc1")(x)
        h = nn.Dropout(self.dropout, deterministic=not train)(nn.silu(h))
        h = nn.Dense(self.out, name="fc2")(h)
        if not self.skip:
            return h
        return jnp.concatenate(
            [jnp.sqrt(self.skip) * l2_normalise(x), jnp.sqrt(1.0 - self.skip) * l2_normalise(h)],
            axis=-1,
        )


# One jit for the module's outputs, with the module (a hashable dataclass) static: selection at
# every evaluation step, and projection of a saved head, reuse the programs compiled first.
@functools.partial(jax.jit, static_argnums=0)
def unit_outputs(module: ProjectionHead, params, x):
    """[N, out] L2-normalised head outputs (dropout off)."""
    return l2_normalise(module.apply({"params": params}, x))


def triplet_loss(anchors, positives, negatives, positive_mask, negative_mask, margin=0.5):
    """The paper's loss: mean over valid (anchor, positive, negative) triples of
    max(0, d(a, p) - d(a, n) + margin), d = 1 - cosine.

    anchors [A,D]; positives [A,P,D] and negatives [A,N,D] with boolean masks [A,P], [A,N]
    (padding slots are False). Negatives may mix hard and random ones; that is the caller's choice.
    """
    a = l2_normalise(anchors)
    d_pos = 1.0 - jnp.einsum("ad,apd->ap", a, l2_normalise(positives))  # [A,P]
    d_neg = 1.0 - jnp.einsum("ad,and->an", a, l2_normalise(negatives))  # [A,N]
    hinge = jax.nn.relu(d_pos[:, :, None] - d_neg[:, None, :] + margin)  # [A,P,N]
    valid = positive_mask[:, :, None] & negative_mask[:, None, :]  # [A,P,N]
    return jnp.sum(hinge * valid) / jnp.maximum(jnp.sum(valid), 1)


def info_nce_loss(anchors, mentions, mention_types, mention_mask, temperature=0.05):
    """Symmetric InfoNCE between type-name anchors and in-batch mentions.

    anchors [A,D] (anchor t is type t); mentions [M,D] with types [M] in 0..A-1 and a boolean
    mask [M]. Mention -> type: cross-entropy over the A anchors. Type -> mention: for each
    (type, mention of it) pair, softmax over that mention and the mentions of *other* types only,
    so that mentions of the same type are never pushed apart as negatives (same-type masking).
    """
    logits = (
        jnp.einsum("md,ad->ma", l2_normalise(mentions), l2_normalise(anchors)) / temperature
    )  # [M,A]
    mention_to_type = -jax.nn.log_softmax(logits, axis=-1)[
        jnp.arange(len(mention_types)), mention_types
    ]  # [M]
    scores = logits.T  # [A,M]
    same = mention_types[None, :] == jnp.arange(anchors.shape[0])[:, None]  # [A,M]
    negatives = ~same & mention_mask[None, :]  # [A,M]
    # log sum over negatives, then each positive's own term joins its denominator.
    negative_lse = jax.nn.logsumexp(jnp.where(negatives, scores, -jnp.inf), axis=-1)  # [A]
    denominator = jnp.logaddexp(scores, negative_lse[:, None])  # [A,M]
    type_to_mention = denominator - scores  # [A,M], valid where same & mention_mask
    pairs = same & mention_mask[None, :]
    forward = jnp.sum(mention_to_type * mention_mask) / jnp.maximum(jnp.sum(mention_mask), 1)
    backward = jnp.sum(jnp.where(pairs, type_to_mention, 0.0)) / jnp.maximum(jnp.sum(pairs), 1)
    return (forward + backward) / 2
