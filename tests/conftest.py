"""Shared fixtures: where the real data lives (and skips when it is absent), a real
grader per test module, and the demo course the cohort tests run."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The real student data sits beside the project (../shared/data), never inside it.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (expected ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def itap_dir() -> Path:
    """The ITAP ProgSnap2 folder (MainTable.csv, CodeState.csv, CV/)."""
    return _require(SHARED_DATA / "itap")


@pytest.fixture(scope="session")
def dublin_csv() -> Path:
    """The Dublin 2015-2016 CSV with tests."""
    return _require(SHARED_DATA / "dublin" / "dublin_2015_2016.csv")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


# The demo course the cohort tests run: two bundled problems x two bundled personas.
DEMO_PROBLEMS = ["hw04_q2", "hw03_q1"]
DEMO_PERSONAS = ["student_123", "pat_prints"]


@pytest.fixture(scope="module")
def grader():
    """The real sandboxed grader, one per test module and closed after it. No result
    cache: a verdict cached by an earlier run must not stand in for a real grading.
    A module that needs other grader settings defines its own ``grader``."""
    from simstudent.grader import Grader, GraderConfig

    with Grader(GraderConfig(cache_path=None)) as g:
        yield g


@pytest.fixture(scope="module")
def world():
    """The demo course: ``({problem id: Problem}, [Persona])`` of DEMO_PROBLEMS and DEMO_PERSONAS."""
    from simstudent.problems import find_problem, load_persona

    return {p: find_problem(p) for p in DEMO_PROBLEMS}, [load_persona(p) for p in DEMO_PERSONAS]
