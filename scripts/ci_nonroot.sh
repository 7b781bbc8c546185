#!/usr/bin/env bash
# CI step: run the sandbox's hostile-program tests as an ordinary (non-root) user.
#
# As root the grader drops every job to a uid of its own; as an ordinary user it has
# no privileges to drop and relies on bubblewrap's unprivileged user namespace. This
# step exercises that second path: it creates an unprivileged user, gives it a copy of
# the package and tests in a folder it can read (the checkout may sit under a 0700
# home), a virtual environment built from the system interpreter (pyenv's lives under
# /root, unreadable to other users) with only the light dependencies, and runs the
# hostile-program tests as that user.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "ci_nonroot: must run as root (it creates the unprivileged user)" >&2
    exit 1
fi
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CI_USER="${SIMSTUDENT_CI_USER:-simstudent-ci}"
WORK="${SIMSTUDENT_CI_DIR:-/var/tmp/simstudent-ci}"   # world-traversable, not under any home
PY="${SIMSTUDENT_CI_PYTHON:-/usr/bin/python3}"         # a system interpreter every user can read
TESTS="${SIMSTUDENT_CI_TESTS:-tests/test_hostile.py tests/test_hostile_levels.py tests/test_hostile_scratch.py}"

"$PY" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
    || { echo "ci_nonroot: $PY is older than 3.10" >&2; exit 1; }
command -v bwrap >/dev/null || { echo "ci_nonroot: bwrap missing (apt-get install -y bubblewrap)" >&2; exit 1; }
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then   # Debian splits venv out of python3
    command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
        || { echo "ci_nonroot: $PY has no venv module (apt-get install -y python3-venv)" >&2; exit 1; }
fi
id -u "$CI_USER" >/dev/null 2>&1 \
    || useradd --system --no-create-home --home-dir "$WORK/home" --shell /usr/sbin/nologin "$CI_USER"

install -d -m 0755 "$WORK"
# The package and the tests, root-owned and read-only to the user (a fresh copy each run).
rm -rf "$WORK/repo"
install -d -m 0755 "$WORK/repo"
cp -r "$REPO/simstudent" "$REPO/tests" "$REPO/pyproject.toml" "$WORK/repo/"
find "$WORK/repo" -name __pycache__ -prune -exec rm -rf {} +
chmod -R a+rX,go-w "$WORK/repo"
# A home and a scratch folder of its own (pytest's tmp_path, caches).
rm -rf "$WORK/home"
install -d -m 0700 -o "$CI_USER" "$WORK/home"

# The venv is kept between runs (it only holds PyPI packages); rebuilt if broken.
if ! "$WORK/venv/bin/python" -c 'import pydantic, typer, rich, pytest' 2>/dev/null; then
    rm -rf "$WORK/venv"
    "$PY" -m venv "$WORK/venv"
    "$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check \
        "pydantic>=2.5" "typer>=0.12" "rich>=13" "pytest>=7"
fi
chmod -R a+rX "$WORK/venv"

cd "$WORK/repo"
# shellcheck disable=SC2086
exec runuser -u "$CI_USER" -- env -i PATH=/usr/bin:/bin HOME="$WORK/home" LANG=C.UTF-8 \
    PYTHONPATH="$WORK/repo" PYTHONDONTWRITEBYTECODE=1 \
    "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp="$WORK/home/pytest" $TESTS
