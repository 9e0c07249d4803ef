"""Runs the `ner-jax` command line in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ner_jax.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
