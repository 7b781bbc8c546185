"""Cohorts on Ray: identical to a one-process run, and an actor killed mid-run is
restarted without losing or duplicating an attempt.

The grader, problems and personas are the real ones; the model is the deterministic
HashBackend from tests/test_agent_fakes.py (a fake of the model only). All tests share
one small local Ray cluster (2 CPUs).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')

from simstudent.agent.cohort import ATTEMPTS_FILE, AttemptRecord, Cohort, CohortConfig, load_trajectories, read_records  # noqa: E402
from simstudent.agent.student import StudentConfig  # noqa: E402
from simstudent.grader import Grader, GraderConfig  # noqa: E402
from simstudent.scale import RayCohort, RayConfig  # noqa: E402
from conftest import DEMO_PERSONAS, DEMO_PROBLEMS  # noqa: E402
from test_agent_fakes import HashBackend  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster():
    # Ray's workers must import this module and test_agent_fakes (the backends travel by reference).
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), *sys.path[:1], old or "") if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def small_grader() -> Grader:
    return Grader(GraderConfig(workers=1, cache_path=None))


def config() -> CohortConfig:
    return CohortConfig(problems=DEMO_PROBLEMS, personas=DEMO_PERSONAS, n_per_persona=2,
                        student=StudentConfig(max_attempts=4, seed=7, save_prompts=False))


class DyingHashBackend(HashBackend):
    """HashBackend whose process exits hard at its ``die_at``-th generate call, once
    per ``marker`` file (so the actor Ray restarts does not die again)."""

    def __init__(self, marker: str, die_at: int = 2) -> None:
        super().__init__()
        self.marker, self.die_at = Path(marker), die_at

    def generate(self, requests):
        if len(self.calls) + 1 == self.die_at and not self.marker.exists():
            self.marker.touch()
            os._exit(1)
        return super().generate(requests)


def _without_wall_clock(attempt: dict) -> dict:
    """An attempt's fields that must reproduce: all but the grader's measured duration."""
    if attempt.get("grade"):
        attempt["grade"].pop("duration_s", None)
    return attempt


def comparable(traj) -> dict:
    d = traj.model_dump(mode="json")
    d["attempts"] = [_without_wall_clock(a) for a in d["attempts"]]
    return d


def attempts_by_key(out: Path) -> dict[tuple, dict]:
    table = {}
    for r in read_records(out / ATTEMPTS_FILE, AttemptRecord):
        key = (r.student_id, r.problem_id, r.index)
        assert key not in table, f"duplicate attempt {key}"
        table[key] = _without_wall_clock(r.model_dump(mode="json"))
    return table


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, world):
    problems, personas = world
    out = tmp_path_factory.mktemp("one")
    with small_grader() as g:
        trajs = Cohort(HashBackend(), g, problems, personas, config(), out).run(progress=False)
    return out, trajs


def test_ray_cohort_equals_one_process_run(tmp_path, cluster, world, one_process):
    problems, personas = world
    out_one, trajs_one = one_process
    trajs = RayCohort(HashBackend, problems, personas, config(), tmp_path, RayConfig(workers=2),
                      make_grader=small_grader).run(progress=False)
    table = attempts_by_key(tmp_path)
    assert len(table) == sum(len(t.attempts) for t in trajs_one) > 8
    assert table == attempts_by_key(out_one)
    assert [comparable(t) for t in trajs] == [comparable(t) for t in trajs_one]
    on_disk = {(t.student_id, t.problem_id): comparable(t) for t in load_trajectories(tmp_path)}
    assert on_disk == {(t.student_id, t.problem_id): comparable(t) for t in trajs_one}
    # The manifest is the one-process one: the same folder resumes either way.
    assert (tmp_path / "cohort.json").read_text() == (out_one / "cohort.json").read_text()


def test_killed_actor_is_restarted_and_nothing_is_lost_or_duplicated(tmp_path, cluster, world, one_process):
    problems, personas = world
    out_one, _ = one_process
    marker = tmp_path / "died"
    make = functools.partial(DyingHashBackend, marker=str(marker), die_at=2)
    cohort = RayCohort(make, problems, personas, config(), tmp_path / "c", RayConfig(workers=2, max_restarts=2),
                       make_grader=small_grader)
    cohort.run(progress=False)
    assert marker.exists(), "no actor died: the test did not test a restart"
    assert cohort.restarts >= 1
    assert attempts_by_key(tmp_path / "c") == attempts_by_key(out_one)
    assert len(load_trajectories(tmp_path / "c")) == 8


def test_rerun_of_a_finished_ray_cohort_adds_nothing(tmp_path, cluster, world, one_process):
    problems, personas = world
    out_one, _ = one_process
    out = tmp_path / "c"
    with small_grader() as g:  # the first two steps in one process, the rest on Ray
        Cohort(HashBackend(), g, problems, personas, config(), out).run(progress=False, max_steps=2)
    RayCohort(HashBackend, problems, personas, config(), out, RayConfig(workers=2),
              make_grader=small_grader).run(progress=False)
    assert attempts_by_key(out) == attempts_by_key(out_one)
    lines = (out / ATTEMPTS_FILE).read_text().splitlines()
    RayCohort(HashBackend, problems, personas, config(), out, RayConfig(workers=1),
              make_grader=small_grader).run(progress=False)
    assert (out / ATTEMPTS_FILE).read_text().splitlines() == lines


def test_cli_cohort_on_ray_writes_the_one_process_folder(tmp_path, world):
    """``simstudent cohort --ray local`` (its own local cluster, in a subprocess) writes
    the attempts ``simstudent cohort`` writes."""
    import subprocess

    def cmd(out: Path, *extra: str) -> list[str]:
        return [sys.executable, "-c", "from simstudent.cli import main; main()", "cohort",
                "--problems", ",".join(DEMO_PROBLEMS), "--personas", DEMO_PERSONAS[0], "--n-per-persona", "2",
                "--backend", "test_agent_fakes:HashBackend", "--max-attempts", "3", "--seed", "5",
                "--out", str(out), "--no-progress", *extra]

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), *sys.path[:1], env.get("PYTHONPATH", "")) if p)
    subprocess.run(cmd(tmp_path / "one"), env=env, check=True, capture_output=True, timeout=300)
    run = subprocess.run(cmd(tmp_path / "ray", "--ray", "local", "--ray-workers", "2"), env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert attempts_by_key(tmp_path / "ray") == attempts_by_key(tmp_path / "one")
