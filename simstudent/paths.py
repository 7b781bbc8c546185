"""Where simstudent finds its bundled files and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
# Problem specs, personas and the shipped adapters are package data, so a plain
# (non-editable) `pip install .` carries them.
SCENARIOS_DIR = PACKAGE_ROOT / "scenarios"
ADAPTERS_DIR = PACKAGE_ROOT / "adapters"


def cache_dir() -> Path:
    """The user's cache folder for simstudent (dequantised models, grade cache,
    embedding cache). Honours XDG_CACHE_HOME, as other tools do."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base) / "simstudent"
    path.mkdir(parents=True, exist_ok=True)
    return path
