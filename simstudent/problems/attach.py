"""Give a dataset's problems their specs (instructions and tests) from simstudent/scenarios/."""

from __future__ import annotations

from typing import Optional, Union
from pathlib import Path

from simstudent.schema import Dataset


def attach_problems(dataset: Dataset, source: Optional[Union[str, Path]] = None) -> list[str]:
    """Fill ``dataset.problems`` with specs for every problem that has no tests yet.

    ``source`` is a course name or folder (``"itap"``, ``simstudent/scenarios/itap``); without
    it each problem id is looked up across every course. Problems that already carry
    tests (the Dublin CSV's) are kept. Returns the ids left without a spec.
    """
    from simstudent.errors import NotFoundError
    from simstudent.problems.spec import find_problem, load_problems

    table = load_problems(source) if source is not None else None
    missing: list[str] = []
    for pid in dataset.problem_ids:
        have = dataset.problems.get(pid)
        if have is not None and have.tests:
            continue
        if table is not None:
            spec = table.get(pid)
        else:
            try:
                spec = find_problem(pid)
            except NotFoundError:
                spec = None
        if spec is None or not spec.tests:
            missing.append(pid)
        else:
            dataset.problems[pid] = spec
    return missing
