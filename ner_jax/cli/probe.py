"""`ner-jax probe`: every block and component scored for type separation; JSON table + plot."""

from __future__ import annotations

from absl import flags

from ner_jax.cli.common import define_corpus_flags
from ner_jax.cli.flags import config_from_flags
from ner_jax.evaluation import ProbeConfig, probe
from ner_jax.model import COMPONENTS

FLAGS = flags.FLAGS


def define_flags() -> None:
    define_corpus_flags()
    flags.DEFINE_list("components", list(COMPONENTS), f"any of {', '.join(COMPONENTS)}")
    flags.DEFINE_integer("pairs", 200_000, "mention pairs sampled for the ROC-AUC")
    flags.DEFINE_integer("seed", 0, "seed of pair sampling and tie-breaking")


def main(argv: list[str]) -> None:
    del argv
    report = probe(config_from_flags(ProbeConfig))
    names = list(report["table"])
    header = "  ".join(f"{n:>13s}" for n in names)
    print(f"raw R-Precision / pair ROC-AUC by block\nblock  {header}")
    for block in range(len(report["table"][names[0]])):
        cells = [report["table"][n][block] for n in names]
        print(
            f"{block:5d}  "
            + "  ".join(f"{c['r_precision']:.3f} / {c['pair_auc']:.3f}" for c in cells)
        )
    best = report["best"]
    print(
        f"best: {best['component']} at block {best['block']} "
        f"(R-Precision {best['r_precision']:.3f}); wrote {FLAGS.out}/probe.json and probe.png"
    )
