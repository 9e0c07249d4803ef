"""A launcher's report: report.json, and its rows as a Markdown table in report.md (printed)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ner_jax.files import atomic


def write_report(out: Path, report: dict, columns: dict[str, Callable[[dict], str]]) -> None:
    """Write `report` to out/report.json and a table of report["rows"] (a cell per column,
    made by its function of the row) to out/report.md, and print the table."""
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "report.json", json.dumps(report, indent=1))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [
        "| " + " | ".join(cell(r) for cell in columns.values()) + " |" for r in report["rows"]
    ]
    atomic.write_text(out / "report.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
