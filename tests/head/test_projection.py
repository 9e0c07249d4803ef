"""The projection head and its contrastive losses, on hand-built vectors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support.reference_head import unit

from ner_jax.head.projection import ProjectionHead, info_nce_loss, triplet_loss


def test_head_shapes_and_dropout_only_in_training():
    head = ProjectionHead(hidden=7, out=5)
    x = jnp.ones((3, 11))
    params = head.init(jax.random.key(0), x)["params"]
    assert params["fc1"]["kernel"].shape == (11, 7) and params["fc2"]["kernel"].shape == (7, 5)
    assert head.apply({"params": params}, x).shape == (3, 5)
    first = head.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(1)})
    again = head.apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(first, again)
    np.testing.assert_array_equal(
        head.apply({"params": params}, x), head.apply({"params": params}, x)
    )


E = np.eye(3, dtype=np.float32)


def test_triplet_loss_by_hand():
    anchors = E[None, 0]  # one anchor along x
    positives = np.stack([[E[0], E[1]]])  # d = 0 and 1
    negatives = np.stack([[E[1], -E[0]]])  # d = 1 and 2
    everything = np.ones((1, 2), bool)
    # Hinges: (0-1+.5)=0, (0-2+.5)=0, (1-1+.5)=.5, (1-2+.5)=0 -> mean .125
    loss = triplet_loss(anchors, positives, negatives, everything, everything)
    assert float(loss) == pytest.approx(0.125)
    # Masking the second positive (a padding slot) leaves only zero hinges.
    masked = triplet_loss(anchors, positives, negatives, np.array([[True, False]]), everything)
    assert float(masked) == pytest.approx(0.0)
    # Scale does not matter: cosine distance.
    assert float(triplet_loss(3 * anchors, 2 * positives, negatives, everything, everything)) == (
        pytest.approx(0.125)
    )


def test_info_nce_is_small_when_separated_and_ignores_same_type_mentions():
    anchors = E[:2]
    mentions = np.stack([E[0], E[0], E[1]])
    types = np.array([0, 0, 1])
    mask = np.ones(3, bool)
    separated = float(info_nce_loss(anchors, mentions, types, mask, temperature=0.05))
    assert separated < 1e-6
    swapped = float(info_nce_loss(anchors, mentions, np.array([1, 1, 0]), mask, temperature=0.05))
    assert swapped > 10


def test_info_nce_matches_the_formula_with_same_type_masking():
    rng = np.random.default_rng(0)
    anchors, mentions = rng.normal(size=(3, 4)), rng.normal(size=(6, 4))
    types, tau = np.array([0, 0, 1, 2, 2, 2]), 0.2
    s = unit(mentions) @ unit(anchors).T / tau  # [M, A]
    forward = np.mean([np.log(np.exp(s[i]).sum()) - s[i, types[i]] for i in range(6)])
    pairs = []
    for i in range(6):
        t = types[i]
        others = np.exp(s[types != t, t]).sum()  # mentions of other types only
        pairs.append(np.log(np.exp(s[i, t]) + others) - s[i, t])
    expected = (forward + np.mean(pairs)) / 2
    got = info_nce_loss(anchors, mentions, types, np.ones(6, bool), temperature=tau)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    unmasked = (
        forward + np.mean([np.log(np.exp(s[:, types[i]]).sum()) - s[i, types[i]] for i in range(6)])
    ) / 2
    assert abs(expected - unmasked) > 1e-3  # the masking changes the loss


def test_losses_have_finite_gradients_with_padding():
    key = jax.random.key(0)
    a, p, n, m = (
        jax.random.normal(k, s)
        for k, s in zip(
            jax.random.split(key, 4), [(2, 4), (2, 3, 4), (2, 5, 4), (6, 4)], strict=True
        )
    )
    pmask = jnp.array([[True, True, False], [True, False, False]])
    nmask = jnp.array([[True] * 5, [True, True, False, False, False]])
    grads = jax.grad(triplet_loss, argnums=(0, 1, 2))(a, p, n, pmask, nmask)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    types, mmask = jnp.array([0, 1, 0, 1, 0, 0]), jnp.array([True] * 5 + [False])
    grads = jax.grad(info_nce_loss, argnums=(0, 1))(a, m, types, mmask)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    assert float(jnp.abs(grads[1][5]).max()) == 0.0  # the padded mention gets no gradient
