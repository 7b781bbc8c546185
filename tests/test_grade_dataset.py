"""Attaching problem specs to a dataset and grading it in place."""

from __future__ import annotations

from simstudent.grader import Grader, GraderConfig
from simstudent.grader.dataset import grade_dataset
from simstudent.problems import attach_problems
from simstudent.schema import Dataset, Problem, Stream, Submission


def _dataset() -> Dataset:
    subs = [Submission(code="def count_stairs(n):\n    return 1", order=0),
            Submission(code="def count_stairs(n):\n    if n <= 1:\n        return 1\n"
                            "    return count_stairs(n - 1) + count_stairs(n - 2)", order=1)]
    return Dataset(name="t", streams=[
        Stream(student_id="s1", problem_id="hw04_q2", submissions=subs),
        Stream(student_id="s1", problem_id="no_such_problem", submissions=[Submission(code="x = 1", order=0)]),
    ], problems={"hw04_q2": Problem(id="hw04_q2")})


def test_attach_problems_fills_specs_and_reports_missing():
    ds = _dataset()
    missing = attach_problems(ds)
    assert missing == ["no_such_problem"]
    assert ds.problems["hw04_q2"].tests and ds.problems["hw04_q2"].instructions


def test_grade_dataset_grades_in_place_with_the_real_grader():
    ds = _dataset()
    attach_problems(ds, "demo")
    with Grader(GraderConfig(workers=1, cache_path=None)) as grader:
        assert grade_dataset(ds, grader) == 2
        # a second pass keeps the grades it already has
        assert grade_dataset(ds, grader) == 0
    first, last = ds.streams[0].submissions
    assert first.grade.error_type == "logical" and 0 < first.grade.pass_rate < 1
    assert last.grade.error_type == "no_error" and last.grade.pass_rate == 1.0
    assert ds.streams[1].submissions[0].grade is None  # no spec, not graded
