"""The closed-loop step: one batched generate call, one parallel grading, one record
per student. Every caller that advances simulated students - a single student
(:meth:`SimulatedStudent.next_attempt`), a cohort, the rollout experiment - goes
through :func:`run_step` or :func:`run_continuous`, which share :func:`finish_step`
(parse, grade, record), so they all parse, grade, record failures and seed the same
way.

:func:`run_continuous` schedules continuously on a backend with
``generate_continuous`` (the hf loop decoder): a student whose attempt is generated
and graded prepares its next request at once and it joins the running decode batch,
instead of waiting for the slowest request of a step. Each student's requests,
seeds and records are the same as step by step; only when they are generated
changes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

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
    completions = _generate(backend, requests)
    # Redraws (StudentConfig.redraw_repeats): attempts that repeat the previous one
    # unchanged are drawn again, in one more generate call per round.
    while again := [i for i, (s, c) in enumerate(zip(students, completions)) if s.wants_redraw(c)]:
        for i in again:
            requests[i] = students[i].redraw()
        for i, c in zip(again, _generate(backend, [requests[i] for i in again])):
            completions[i] = c
    return finish_step(students, requests, completions, grader)


def _generate(backend: Any, requests: list[Any]) -> list[Any]:
    completions = list(backend.generate(requests))
    if len(completions) != len(requests):
        raise StepError(f"backend returned {len(completions)} completions for {len(requests)} requests")
    return completions


def finish_step(students: Sequence[SimulatedStudent], requests: Sequence[Any], completions: Sequence[Any],
                grader: Any) -> list[Optional[Attempt]]:
    """Second half of a step: parse each completion, grade the codes in parallel,
    record each student's attempt (None for a completion with ``finish_reason="error"``,
    which stops its student)."""
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


def supports_continuous(backend: Any) -> bool:
    """Whether ``backend`` can schedule continuously (``generate_continuous``)."""
    return bool(getattr(backend, "supports_continuous", False)) and callable(
        getattr(backend, "generate_continuous", None))


def run_continuous(students: Sequence[SimulatedStudent], backend: Any, grader: Any, *,
                   hints: Optional[Callable[[list[int]], list[Optional[str]]]] = None,
                   on_attempts: Optional[Callable[[list[tuple[int, Optional[Attempt]]]], None]] = None) -> None:
    """Advance every student that is not done until it is, continuously.

    ``hints(indices)`` gives the hint for each of those students' next attempt (asked
    right before it is prepared); ``on_attempts`` receives the (student index, attempt
    or None) pairs of each batch of completions that finished together, after they are
    recorded. A backend or grader exception propagates (what was recorded stays).
    """
    pending: dict[int, Any] = {}

    def prepare(ready: list[int]) -> list[tuple[int, Any]]:
        hs = hints(ready) if hints is not None and ready else [None] * len(ready)
        out = []
        for k, h in zip(ready, hs):
            pending[k] = students[k].prepare(h)
            out.append((k, pending[k]))
        return out

    def feed(done: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
        if not done:
            return prepare([k for k, s in enumerate(students) if not s.done and k not in pending])
        redrawn = [k for k, c in done if students[k].wants_redraw(c)]  # StudentConfig.redraw_repeats
        for k in redrawn:
            pending[k] = students[k].redraw()
        done = [(k, c) for k, c in done if k not in redrawn]
        idx = [k for k, _ in done]
        attempts = finish_step([students[k] for k in idx], [pending.pop(k) for k in idx],
                               [c for _, c in done], grader) if done else []
        if on_attempts is not None:
            on_attempts(list(zip(idx, attempts)))
        return [(k, pending[k]) for k in redrawn] + prepare([k for k in idx if not students[k].done])

    backend.generate_continuous(feed)
    if pending:
        raise StepError(f"backend ended with {len(pending)} requests unanswered")
