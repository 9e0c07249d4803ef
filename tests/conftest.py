"""Shared test settings: offline transformers, a per-run weight cache unless one is given."""

from __future__ import annotations

import os

# transformers must never try the hub; the reference models are built or read locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
