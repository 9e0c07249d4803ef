#!/usr/bin/env bash
# Sets up (if needed) and runs the main job on the embedded default: `ner-jax demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ner-jax demo "$@"
