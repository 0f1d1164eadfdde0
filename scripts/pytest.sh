#!/usr/bin/env bash
# Runs the trainer's pytest suite with the interpreter that imports torch.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${LLAMA_NAS_PYTHON:-}
if [ -z "$py" ]; then
  for c in "$(command -v python3 || true)" /usr/bin/python3; do
    [ -n "$c" ] && "$c" -c 'import torch, pytest' >/dev/null 2>&1 && { py=$c; break; }
  done
fi
[ -n "$py" ] || { echo "no Python with torch and pytest: run npm run provision" >&2; exit 1; }
exec "$py" -m pytest -q trainer/tests "$@"
