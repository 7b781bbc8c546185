"""The default simulated student: which adapter `run` and `cohort` use, and the
bundled adapters' files and metadata."""

from __future__ import annotations

import json

import pytest

from simstudent.models.adapters import (DEFAULT_STUDENT_ADAPTER, list_adapters, load_adapter_meta,
                                        resolve_adapter, student_adapter)
from simstudent.paths import ADAPTERS_DIR


def test_student_adapter_rules():
    # Nothing asked for, on the default model with the local backend: the bundled adapter.
    assert student_adapter(None, model="default", backend="hf", template=None) == DEFAULT_STUDENT_ADAPTER
    # "none" (any case) asks for the untuned model; a given adapter is kept as given.
    assert student_adapter("None", model="default", backend="hf", template=None) is None
    assert student_adapter("my/adapter", model="default", backend="hf", template=None) == "my/adapter"
    # Another base model, a server, or an explicit prompt template: an adapter would not fit.
    assert student_adapter(None, model="Qwen/Qwen2.5-Coder-7B", backend="hf", template=None) is None
    assert student_adapter(None, model="default", backend="openai", template=None) is None
    assert student_adapter(None, model="default", backend="hf", template="chat-loop") is None


def test_default_adapter_is_bundled_and_a_closed_loop_adapter():
    folder = resolve_adapter(DEFAULT_STUDENT_ADAPTER)
    meta = load_adapter_meta(folder)
    assert meta.exp == "loop" and meta.base_model == "default"
    assert folder.parent == ADAPTERS_DIR


@pytest.mark.parametrize("folder", sorted(p for p in ADAPTERS_DIR.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_bundled_adapters_are_small_fp16_with_their_record(folder):
    from safetensors import safe_open

    weights = folder / "adapter_model.safetensors"
    assert weights.stat().st_size <= 10 * 1024 * 1024
    with safe_open(str(weights), framework="pt") as f:
        dtypes = {str(f.get_slice(k).get_dtype()) for k in f.keys()}
    assert dtypes == {"F16"}
    meta = json.loads((folder / "simstudent.json").read_text())
    if meta.get("epochs_done", 0) < 1:
        pytest.skip(f"{folder.name}: a short early adapter ({meta.get('epochs_done')} epoch), kept for the old report")
    assert meta["split"]["train_students_sha256"] and meta["data_fingerprint"]
    assert len(meta["loss_curve"]) == meta["steps"] > 0
    assert meta["wall_time_s"] > 0 and meta["tokens_per_s"] > 0
    assert meta["hyperparameters"]["effective_batch_size"] == 16 and meta["hyperparameters"]["lr"] == 1e-4


def test_adapters_list_shows_every_bundled_adapter():
    names = {meta.name for _, meta in list_adapters() if not isinstance(meta, str)}
    assert {p.name for p in ADAPTERS_DIR.iterdir() if p.is_dir()} <= names
