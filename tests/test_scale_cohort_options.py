"""``simstudent cohort --ray``: every backend option (--dtype, --threads, --batch-size,
--model, --base-url) reaches the backend each Ray actor builds.

The backend is a recording fake of the model (no model is loaded); the first test
stops before Ray starts, the second runs the real CLI on a local Ray cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DEMO_PERSONAS, DEMO_PROBLEMS
from test_agent_fakes import HashBackend

TESTS_DIR = Path(__file__).resolve().parent


class RecordingBackend(HashBackend):
    """HashBackend that keeps the constructor arguments ``build_backend`` gave it, and
    says them in its name (the name goes into the cohort folder's cohort.json)."""

    def __init__(self, model: str = "hash", dtype: str | None = None, num_threads: int | None = None,
                 batch_size: int | None = None, base_url: str | None = None, **kw: object) -> None:
        super().__init__(model=model)
        self.dtype, self.num_threads, self.batch_size, self.base_url = dtype, num_threads, batch_size, base_url
        self.name = f"recording model={model} dtype={dtype} threads={num_threads} batch={batch_size}"


def cohort_args(out: Path, *extra: str) -> list[str]:
    return ["cohort", "--problems", DEMO_PROBLEMS[0], "--personas", DEMO_PERSONAS[0], "--n-per-persona", "1",
            "--backend", "test_scale_cohort_options:RecordingBackend", "--model", "tiny", "--dtype", "bf16",
            "--threads", "1", "--batch-size", "3", "--max-attempts", "2", "--out", str(out), "--no-progress",
            "--ray", "local", *extra]


def test_the_actor_backend_factory_carries_every_backend_option(tmp_path, monkeypatch):
    """What ``cohort --ray`` hands the actors, caught before Ray starts, then called the
    way an actor calls it."""
    import simstudent.scale
    from simstudent.cli import app
    from simstudent.errors import SimstudentError

    handed: dict = {}

    class CatchingRayCohort:
        def __init__(self, make_backend, *args, **kw):
            handed["make_backend"], handed["ray_config"] = make_backend, args[4]
            raise SimstudentError("caught before Ray starts")

    monkeypatch.setattr(simstudent.scale, "RayCohort", CatchingRayCohort)
    res = CliRunner().invoke(app, cohort_args(tmp_path / "c", "--ray-workers", "3", "--base-url",
                                              "http://a/v1,http://b/v1"))
    assert res.exit_code == 2 and "caught before Ray starts" in res.output, res.output
    config = handed["make_backend"].args[0]
    assert (config.dtype, config.num_threads, config.batch_size, config.model) == ("bf16", 1, 3, "tiny")
    assert config.base_url == "http://a/v1,http://b/v1"
    assert handed["ray_config"].workers == 3 and handed["ray_config"].address is None
    backend = handed["make_backend"]()  # what each actor does
    assert isinstance(backend, RecordingBackend)
    assert (backend.dtype, backend.num_threads, backend.batch_size, backend.model) == ("bf16", 1, 3, "tiny")


def test_cohort_on_ray_actors_build_their_backend_with_the_dtype(tmp_path):
    pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')
    env = dict(os.environ)
    # Ray's workers must import this module and test_agent_fakes (the backend travels by reference).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), *sys.path[:1], env.get("PYTHONPATH", "")) if p)
    out = tmp_path / "c"
    run = subprocess.run([sys.executable, "-c", "from simstudent.cli import main; main()",
                          *cohort_args(out, "--ray-workers", "1")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    # The driver records the name of the backend the actor built.
    manifest = json.loads((out / "cohort.json").read_text())
    assert manifest["backend"] == "recording model=tiny dtype=bf16 threads=1 batch=3"
