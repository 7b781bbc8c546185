"""Grade every submission of a dataset in place."""

from __future__ import annotations

from typing import Callable, Optional

from simstudent.grader.grader import Grader
from simstudent.schema import Dataset


def grade_dataset(
    dataset: Dataset,
    grader: Grader,
    *,
    overwrite: bool = False,
    progress: Optional[Callable[[int], None]] = None,
) -> int:
    """Set ``Submission.grade`` on every submission whose problem has tests (all in
    one parallel batch); keeps existing grades unless ``overwrite``. Returns how
    many submissions were graded."""
    todo = [
        (dataset.problems[stream.problem_id], sub)
        for stream in dataset.streams
        if stream.problem_id in dataset.problems and dataset.problems[stream.problem_id].tests
        for sub in stream.submissions
        if overwrite or sub.grade is None
    ]
    results = grader.grade_many([(problem, sub.code) for problem, sub in todo], progress=progress)
    for (_, sub), result in zip(todo, results):
        sub.grade = result
    return len(todo)
