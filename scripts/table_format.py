"""Markdown table cells and tables from results/, shared by the table generators."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"


def load(path: str) -> dict:
    return json.loads((RESULTS / path).read_text())


def num(x: float, digits: int = 3) -> str:
    """x rounded half up as printed (1.45 -> 1.5, where float formatting gives 1.4), with commas."""
    return f"{Decimal(repr(x)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP):,}"


def ms(a: float, b: float) -> str:
    """A p50 / p99 pair of milliseconds, to two decimals below 10 and one above."""
    return " / ".join(num(x, 2 if x < 10 else 1) for x in (a, b))


def bold(text: str, on: bool = True) -> str:
    return f"**{text}**" if on else text


def table(header: str, rows: list[list[str]]) -> str:
    """Markdown from a header "a | b | c" and rows of cells."""
    cells = header.split(" | ")
    lines = [cells, ["---"] * len(cells), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
