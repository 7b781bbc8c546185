#!/usr/bin/env bash
# One command for a GPU machine (under 10 minutes): a LoRA bf16 training step, vLLM
# generation with the committed adapter, and vLLM vs hf throughput (last line `ratio: X`).
# Needs a CUDA GPU and vLLM (pip install -e ".[gpu]"); without them it stops with exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "gpu_check: error: no GPU on this machine (nvidia-smi lists none); run this on a CUDA GPU machine" >&2
  exit 2
fi
exec timeout 600 "$PY" benchmarks/gpu_check.py "$@"
