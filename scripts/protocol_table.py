"""Markdown table of both zero-shot protocols from their protocol.py output directories.

  .venv/bin/python scripts/protocol_table.py results/protocol_a/gemma3-270m \
    results/protocol_b/gemma3-270m

Rows: the baselines, the raw tap, each head (with its selection R-Precision on held-out
sentences of the training types, per protocol) and each fusion; columns: protocol A (all, unseen
and seen types) and protocol B.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(a_dir: str, b_dir: str) -> None:
    a = json.loads((Path(a_dir) / "evaluate" / "report.json").read_text())["systems"]
    b_report = Path(b_dir) / "evaluate" / "report.json"
    b = json.loads(b_report.read_text())["systems"] if b_report.is_file() else {}

    def selection(run: str, system: str) -> str:
        record = Path(run) / "heads" / system.removeprefix("head-") / "head.json"
        if not system.startswith("head-") or "+" in system or not record.is_file():
            return ""
        return f"{json.loads(record.read_text())['metrics']['select_r_precision']:.3f}"

    print("| system | selection A / B | A: CrossNER, all | unseen | seen | B: MultiCoNER |")
    print("|---|---|---|---|---|---|")
    for name in a:
        ra, rb = a[name], b.get(name)
        picked = [selection(a_dir, name), selection(b_dir, name)]
        cells = [
            " / ".join(picked) if any(picked) else "",
            f"{ra['r_precision']:.3f}",
            f"{ra['unseen_r_precision']:.3f}",
            f"{ra['seen_r_precision']:.3f}",
            f"{rb['r_precision']:.3f}" if rb else "",
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
