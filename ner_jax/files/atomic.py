"""Atomic file writes: a temporary file in the same directory, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


def write_with(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Call `write(tmp)`, then rename tmp to `path`: readers see the old file or the new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes files owner-only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_npy(path: Path, array: np.ndarray) -> None:
    write_with(path, lambda tmp: np.save(tmp, array), suffix=".npy")


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    write_with(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
