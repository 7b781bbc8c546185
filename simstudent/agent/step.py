"""The closed-loop step: one batched generate call, one parallel grading, one record
per student. Every caller that advances simulated students - a single student
(:meth:`SimulatedStudent.next_attempt`), a cohort, the rollout experiment - goes
through :func:`run_step`, so they all parse, grade, record failures and seed the
same way.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from simstudent.agent.student import SimulatedStudent
from simstudent.schema import Attempt


class StepError(RuntimeError):
    """The backend broke the batch contract (wrong number of completions)."""


def completion_error(completion: Any) -> str:
    """Why a completion with ``finish_reason="error"`` failed: the backend's own
    message (``Completion.error``), else its text, else a generic note."""
    return getattr(completion, "error", None) or completion.text or "backend reported an error"


def run_step(students: Sequence[SimulatedStudent], backend: Any, grader: Any,
             hints: Optional[Sequence[Optional[str]]] = None) -> list[Optional[Attempt]]:
    """Advance every student (none may be done) by one attempt.

    Each prepares its request (with its hint, if any); the backend gets ONE
    ``generate`` call for all of them; the codes are graded in parallel
    (``grader.grade_many``); each student records its attempt. A completion with
    ``finish_reason="error"`` stops only its own student (stop reason ``"error"``,
    the message in ``trajectory.meta["error"]``) and yields None in its place.
    An exception from the backend or grader propagates (nothing is recorded).
    """
    hints = list(hints) if hints is not None else [None] * len(students)
    if len(hints) != len(students):
        raise ValueError(f"{len(hints)} hints for {len(students)} students")
    requests = [s.prepare(h) for s, h in zip(students, hints)]
    completions = backend.generate(requests)
    if len(completions) != len(requests):
        raise StepError(f"backend returned {len(completions)} completions for {len(requests)} requests")
    ok = [i for i, c in enumerate(completions) if c.finish_reason != "error"]
    parsed = {i: students[i].parse(completions[i]) for i in ok}
    grades = grader.grade_many([(students[i].problem, parsed[i][0]) for i in ok]) if ok else []
    grade_of = dict(zip(ok, grades))
    out: list[Optional[Attempt]] = []
    for i, student in enumerate(students):
        if i in grade_of:
            code, submitted = parsed[i]
            out.append(student.record(requests[i], completions[i], grade_of[i], code, submitted))
        else:
            student.record(requests[i], None, None, error=completion_error(completions[i]))
            out.append(None)
    return out
