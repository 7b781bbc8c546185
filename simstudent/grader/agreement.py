"""Re-grade recorded submissions and measure agreement with their recorded verdicts.

A recorded verdict is a boolean (``Submission.recorded_correct``: passed all of the
original course's tests); ours agrees when ``error_type == "no_error"`` equals it.
"""

from __future__ import annotations

from typing import Callable, Optional

from pydantic import BaseModel, Field

from simstudent.grader.grader import Grader
from simstudent.schema import Dataset, GradeResult, Problem


class Disagreement(BaseModel):
    """One submission where our verdict differs from the recorded one."""

    student: str
    problem: str
    order: int
    recorded: bool
    got: bool
    error_type: str
    reason: str
    event_id: Optional[str] = None


class AgreementReport(BaseModel):
    """How often re-grading reproduces the recorded verdicts."""

    agreement: float
    n: int
    agreed: int
    skipped: int = 0  # submissions without tests or without a recorded verdict
    error_types: dict[str, int] = Field(default_factory=dict)
    disagreements: list[Disagreement] = Field(default_factory=list)


def reason_for(result: GradeResult) -> str:
    """A one-line account of a verdict: why it passed or failed."""
    if result.error_type == "no_error":
        return f"all {result.total} tests pass"
    if result.error_message:
        return f"{result.error_type}: {result.error_message.strip().splitlines()[-1]}"
    for outcome in result.tests:
        if not outcome.passed:
            detail = outcome.exception or (f"got {outcome.got!r}" if outcome.got else "assertion failed")
            return f"{result.error_type}: {outcome.name or 'test'} failed ({detail})"
    return result.error_type


def gradable(dataset: Dataset) -> tuple[list[tuple[str, Problem, int, str, bool, Optional[str]]], int]:
    """(student, problem, order, code, recorded, event_id) for every submission with
    tests and a recorded verdict, and how many were skipped."""
    rows, skipped = [], 0
    for stream in dataset.streams:
        problem = dataset.problems.get(stream.problem_id)
        for sub in stream.submissions:
            if problem is None or not problem.tests or sub.recorded_correct is None:
                skipped += 1
                continue
            rows.append((stream.student_id, problem, sub.order, sub.code, sub.recorded_correct, sub.event_id))
    return rows, skipped


def regrade_agreement(
    dataset: Dataset,
    grader: Grader,
    *,
    progress: Optional[Callable[[int], None]] = None,
) -> AgreementReport:
    """Grade every gradable submission of ``dataset`` and compare with its record."""
    rows, skipped = gradable(dataset)
    results = grader.grade_many([(problem, code) for _, problem, _, code, _, _ in rows], progress=progress)
    disagreements = []
    error_types: dict[str, int] = {}
    for (student, problem, order, _, recorded, event_id), result in zip(rows, results):
        error_types[result.error_type] = error_types.get(result.error_type, 0) + 1
        got = result.error_type == "no_error"
        if got != recorded:
            disagreements.append(Disagreement(student=student, problem=problem.id, order=order, recorded=recorded,
                                              got=got, error_type=result.error_type, reason=reason_for(result),
                                              event_id=event_id))
    n = len(rows)
    agreed = n - len(disagreements)
    return AgreementReport(agreement=agreed / n if n else 0.0, n=n, agreed=agreed, skipped=skipped,
                           error_types=dict(sorted(error_types.items())), disagreements=disagreements)
