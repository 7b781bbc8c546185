"""The 38 ITAP problem specs (simstudent/scenarios/itap): they load, match the data's ProblemIDs,
validate with the real grader, and reproduce the recorded Correct labels.

The agreement tests grade real submissions from ../shared/data/itap and skip without
it. The default one grades a seeded sample of 600 labelled submissions (about 10 s on
two idle cores); the full re-grade of all 2,774 labelled submissions, as recorded and
export-repaired, is marked ``slow`` (about 1 min on two busy cores, a second or two
from the grade cache afterwards). ``docs/itap-problems.md`` has the per-problem table.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from simstudent.problems import load_problems, validate_problems

REPO_ROOT = Path(__file__).resolve().parents[1]
ITAP_SPECS = REPO_ROOT / "simstudent" / "scenarios" / "itap"
N_PROBLEMS = 38
SAMPLE_SIZE = 600


def _agreement_module():
    """scripts/itap_agreement.py (not a package module) for its export repair."""
    spec = importlib.util.spec_from_file_location("itap_agreement", REPO_ROOT / "scripts" / "itap_agreement.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def problems():
    return load_problems(ITAP_SPECS)


@pytest.fixture(scope="module")
def grader():
    from simstudent.grader import Grader, GraderConfig

    with Grader(GraderConfig()) as g:
        yield g


@pytest.fixture(scope="module")
def labelled(itap_dir, problems):
    """(problem id, student, order, code, label) for every labelled ITAP submission."""
    from simstudent.data import load_dataset

    dataset = load_dataset(itap_dir)
    return [
        (s.problem_id, s.student_id, sub.order, sub.code, bool(sub.recorded_correct))
        for s in dataset.streams
        for sub in s.submissions
        if sub.recorded_correct is not None
    ]


def _passes(result) -> bool:
    return result.error_type == "no_error" and result.passed == result.total


def test_all_specs_load(problems):
    assert len(list(ITAP_SPECS.glob("*.toml"))) == N_PROBLEMS
    assert len(problems) == N_PROBLEMS
    for pid, p in problems.items():
        assert p.course == "itap"
        assert p.function_name == pid, f"{pid}: function_name should be the ProblemID"
        assert p.tests, f"{pid}: no tests"
        assert "*** YOUR CODE HERE ***" in p.skeleton_code
        assert f"def {pid}(" in p.skeleton_code and f"def {pid}(" in (p.reference_solution or "")
        assert p.instructions.strip() and p.title.strip()


def test_ids_match_the_data(itap_dir, problems):
    from simstudent.data import load_dataset

    ids = {s.problem_id for s in load_dataset(itap_dir).streams}
    assert ids == set(problems)


def test_reference_passes_and_skeleton_fails(problems, grader):
    errors = validate_problems(problems.values(), grader)
    assert {k: v for k, v in errors.items() if v} == {}
    # The validator's checks, asserted directly as well.
    refs = grader.grade_many([(p, p.reference_solution) for p in problems.values()])
    skels = grader.grade_many([(p, p.skeleton_code) for p in problems.values()])
    for p, ref, skel in zip(problems.values(), refs, skels):
        assert _passes(ref), f"{p.id}: reference fails: {ref.feedback}"
        assert not _passes(skel), f"{p.id}: skeleton passes every test"


def test_print_instead_of_return_fails(problems, grader):
    """ITAP graded return values: printing the answer is wrong (the data's labels say so)."""
    code = "def oneToN(n):\n    for i in range(1, n + 1):\n        print(i, end='')\n"
    assert not _passes(grader.grade(problems["oneToN"], code))
    code = "def kthDigit(x, k):\n    print(x // 10 ** (k - 1) % 10)\n"
    assert not _passes(grader.grade(problems["kthDigit"], code))


def test_export_repair_only_touches_a_final_backslash():
    repair = _agreement_module().repair_trailing_backslash
    assert repair("def f():\n    return 1\\") == "def f():\n    return 1"
    assert repair("x = 1 + \\\n    2\n") == "x = 1 + \\\n    2\n"
    assert repair("print('a')\n") == "print('a')\n"


def test_agreement_on_a_seeded_sample(labelled, problems, grader):
    """A seeded sample of 600 labelled submissions, graded as recorded."""
    rows = random.Random(0).sample(labelled, SAMPLE_SIZE)
    results = grader.grade_many([(problems[pid], code) for pid, _, _, code, _ in rows])
    agree = sum(_passes(r) == label for r, (*_, label) in zip(results, rows))
    assert agree / len(rows) >= 0.97, f"sample agreement {agree}/{len(rows)}"


@pytest.mark.slow
def test_agreement_on_every_labelled_submission(labelled, problems, grader):
    """All 2,774 labelled submissions: >= 97 % as recorded; export-repaired >= 97 %
    overall and >= 90 % for every problem with at least 20 submissions."""
    repair = _agreement_module().repair_trailing_backslash
    assert len(labelled) == 2774
    for mode, fix in (("recorded", lambda c: c), ("repaired", repair)):
        results = grader.grade_many([(problems[pid], fix(code)) for pid, _, _, code, _ in labelled])
        per = defaultdict(lambda: [0, 0])
        for r, (pid, *_, label) in zip(results, labelled):
            per[pid][0] += 1
            per[pid][1] += _passes(r) == label
        overall = sum(a for _, a in per.values()) / len(labelled)
        assert overall >= 0.97, f"{mode}: overall agreement {overall:.4f}"
        if mode == "repaired":
            low = {pid: a / n for pid, (n, a) in per.items() if n >= 20 and a / n < 0.90}
            assert low == {}, f"problems under 90 % agreement: {low}"
