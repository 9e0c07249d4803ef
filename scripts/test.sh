#!/usr/bin/env bash
# Sets up (if needed) and runs the whole test suite, real-weight tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
