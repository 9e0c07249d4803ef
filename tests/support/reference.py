"""transformers reference runs: tapped value vectors and block outputs via forward hooks."""

from __future__ import annotations

import numpy as np
import torch

# Real sentences for the real-weight checks: places, people, science, sport, non-ASCII.
REAL_SENTENCES = [
    "The Eiffel Tower was completed in 1889 for the Exposition Universelle in Paris.",
    "Alan Turing worked at Bletchley Park, where he helped to break the Enigma cipher.",
    "Protein kinase C phosphorylates serine and threonine residues.",
    "Celtic beat Rangers 2-1 at Celtic Park on Saturday.",
    "Zürich and São Paulo both host large banks.",
]

# fp32 tolerance rule: max |ours - reference| <= 1e-5 * max |reference| per compared tensor.
RTOL = 1e-5


def relative_error(ours, reference) -> float:
    """max |ours - reference| / max |reference|: the quantity our tolerances bound."""
    return float(np.max(np.abs(np.asarray(ours) - reference)) / np.max(np.abs(reference)))


def reference_run(model, ids: list[int], block: int) -> dict[str, np.ndarray]:
    """One unpadded sentence through a transformers decoder: `v` (v_proj output), `attn` (the
    input of o_proj) and `out` (the block's output, before any final norm) of `block`, each
    [T, width]."""
    found = {}

    def keep(name):
        def hook(module, inputs, output):
            found[name] = output[0] if isinstance(output, tuple) else output

        return hook

    layer = model.model.layers[block]
    hooks = [
        layer.self_attn.v_proj.register_forward_hook(keep("v")),
        layer.self_attn.o_proj.register_forward_pre_hook(
            lambda module, inputs: found.__setitem__("attn", inputs[0])
        ),
        layer.register_forward_hook(keep("out")),
    ]
    try:
        with torch.no_grad():
            model(torch.tensor([ids]))
    finally:
        for hook in hooks:
            hook.remove()
    return {name: value[0].numpy() for name, value in found.items()}
