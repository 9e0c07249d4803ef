"""Where a model is read: "COMPONENT@BLOCK" taps, and a model's default tap."""

from __future__ import annotations

import dataclasses

from absl import logging

from ner_jax.model import hf_checkpoint
from ner_jax.model.config import DecoderConfig
from ner_jax.model.decoder import COMPONENTS
from ner_jax.model.registry import NAMED_MODELS, checkpoint_dir


def parse_tap(tap: str) -> tuple[str, int]:
    """ "12" or "v@12" -> ("v", 12); "attn@15" -> ("attn", 15)."""
    component, _, block = tap.rpartition("@")
    if not block.isdigit() or (component and component not in COMPONENTS):
        raise ValueError(
            f"bad tap {tap!r}: expected BLOCK or COMPONENT@BLOCK, COMPONENT in {COMPONENTS}"
        )
    return component or "v", int(block)


@dataclasses.dataclass(frozen=True)
class Tap:
    """Where a model is read: its config, the block and the component (no weights loaded)."""

    config: DecoderConfig
    block: int
    component: str


def resolve_tap(
    name_or_path: str, tap_block: int | None = None, component: str | None = None
) -> Tap:
    """The requested tap, or the named model's measured one (else the middle block's values)."""
    if component is not None and component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; choose from {COMPONENTS}")
    named = NAMED_MODELS.get(name_or_path)
    if named and named.config and named.user_weights() is None:
        config = named.config  # known without the weights (a model not on PyPI)
    else:
        config = hf_checkpoint.read_config(checkpoint_dir(name_or_path))
    if tap_block is None and named:
        tap_block = named.tap_block
    elif tap_block is None:
        tap_block = config.num_hidden_layers // 2
        logging.warning(
            "no measured tap block for %s; using the middle block %d (`ner-jax probe` chooses)",
            name_or_path,
            tap_block,
        )
    config.check_tap_block(tap_block)
    return Tap(config, tap_block, component or (named.tap_component if named else "v"))
