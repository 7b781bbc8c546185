"""build_backend: one builder for every backend; clear one-line errors for bad names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simstudent.models import (
    BACKENDS,
    BackendConfig,
    BackendConfigError,
    GenerationRequest,
    build_backend,
)
from simstudent.models.build import backend_kwargs


class Recorder:
    name = "recorder"

    def __init__(self, model: str, seed: int | None = None, batch_size: int = 1) -> None:
        self.model, self.seed, self.batch_size = model, seed, batch_size

    def generate(self, requests):  # pragma: no cover - not called
        return []


def test_copy_previous_is_registered_and_answers_from_metadata() -> None:
    assert "copy-previous" in BACKENDS
    be = build_backend(BackendConfig(backend="copy-previous"))
    meta = {"exp": "exp2", "previous": "x = 1", "skeleton": "pass", "final": True}
    first = {"exp": "exp2", "previous": None, "skeleton": "pass", "final": False}
    out = be.generate([GenerationRequest(prompt="", metadata=meta), GenerationRequest(prompt="", metadata=first),
                       GenerationRequest(prompt="p")])
    assert out[0].text == "<code>x = 1</code><SUBMIT>"
    assert out[1].text == "<code>pass</code>" and out[1].finish_reason == "stop"
    assert out[2].finish_reason == "error" and "exp2 baseline" in (out[2].error or "")


def test_only_accepted_fields_reach_the_constructor() -> None:
    cfg = BackendConfig(backend=f"{__name__}:Recorder", model="m", seed=3, batch_size=4, dtype="bf16")
    assert backend_kwargs(cfg, Recorder) == {"model": "m", "seed": 3, "batch_size": 4}
    be = build_backend(cfg)
    assert (be.model, be.seed, be.batch_size) == ("m", 3, 4)


@pytest.mark.parametrize("name, words", [
    ("nope", ["unknown backend 'nope'", "hf", "package.module:Class"]),
    ("no_such_pkg.mod:Cls", ["cannot import module 'no_such_pkg.mod'", "install it"]),
    ("json:Nope", ["module 'json' has no class 'Nope'"]),
    ("json:JSONDecoder", ["no generate(requests) method"]),
])
def test_bad_backend_names_are_one_line_errors(name: str, words: list[str]) -> None:
    with pytest.raises(BackendConfigError) as info:
        build_backend(BackendConfig(backend=name))
    msg = str(info.value)
    assert "\n" not in msg and name in msg
    for w in words:
        assert w in msg


def test_cli_bad_backend_exits_2_with_the_name() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from simstudent.cli import main; main()", "run", "--problem", "hw04_q2", "--persona", "student_123",
         "--backend", "no_such_pkg.mod:Cls"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no_such_pkg.mod:Cls" in proc.stderr and "Traceback" not in proc.stderr
