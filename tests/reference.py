"""transformers reference runs: tapped value vectors and block outputs via forward hooks."""

from __future__ import annotations

import numpy as np
import torch


def relative_error(ours, reference) -> float:
    """max |ours - reference| / max |reference|: the quantity our tolerances bound."""
    return float(np.max(np.abs(np.asarray(ours) - reference)) / np.max(np.abs(reference)))


def reference_run(model, ids: list[int], block: int) -> dict[str, np.ndarray]:
    """One unpadded sentence through a transformers decoder: `v` (v_proj output) and `out`
    (the block's output, before any final norm) of `block`, each [T, width]."""
    found = {}

    def keep(name):
        def hook(module, inputs, output):
            found[name] = output[0] if isinstance(output, tuple) else output

        return hook

    layer = model.model.layers[block]
    hooks = [
        layer.self_attn.v_proj.register_forward_hook(keep("v")),
        layer.register_forward_hook(keep("out")),
    ]
    try:
        with torch.no_grad():
            model(torch.tensor([ids]))
    finally:
        for hook in hooks:
            hook.remove()
    return {name: value[0].numpy() for name, value in found.items()}
