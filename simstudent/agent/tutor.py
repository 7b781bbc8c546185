"""Testing tutors on simulated students.

A tutor is anything with ``hint(problem, trajectory) -> str | None``: it sees the
problem and the attempts so far (each with its grade) before every attempt and may
return a hint, which the student reads in its next prompt (``Attempt.hint`` records
it). :func:`compare_with_tutor` runs the same cohort - same students, problems and
seeds - without and with a tutor and compares the outcomes.

Tutors are found by name in :data:`TUTORS` (``rule_based`` is built in); add your own
with ``TUTORS.register("mine", "package.module:MyTutor")``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol, Union, runtime_checkable

from pydantic import BaseModel, Field

from simstudent.registry import Registry
from simstudent.schema import GradeResult, Persona, Problem, Trajectory


@runtime_checkable
class Tutor(Protocol):
    """Looks at a student's work so far and returns a hint, or None to stay quiet."""

    def hint(self, problem: Problem, trajectory: Trajectory) -> Optional[str]:
        ...


TUTORS: Registry[Any] = Registry("tutor")
TUTORS.register("rule_based", "simstudent.agent.tutor:RuleBasedTutor")


def get_tutor(name: str, **kwargs: Any) -> Tutor:
    """An instance of the tutor registered as ``name``."""
    return TUTORS.get(name)(**kwargs)


def _short(text: Optional[str], limit: int = 120) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _last_line(text: Optional[str]) -> str:
    """The last non-blank line of a traceback or compiler message (the error itself)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return _short(lines[-1]) if lines else ""


class RuleBasedTutor:
    """A few fixed rules over the last attempt's grade, in the order a TA would check:
    it does not compile; the function is missing; it prints instead of returning (or
    returns nothing); it never stops (recursion/timeout); else the first failing test
    with its expected and actual value. Silent before the first attempt and once all
    tests pass."""

    name = "rule_based"

    def hint(self, problem: Problem, trajectory: Trajectory) -> Optional[str]:
        if not trajectory.attempts:
            return None
        last = trajectory.attempts[-1]
        grade = last.grade
        if grade is None or grade.error_type == "no_error":
            return None
        code = last.code
        fn = problem.function_name
        if not code.strip():
            return f"You submitted no code. Start from the skeleton and write the body of {fn or 'the function'}."
        if grade.error_type == "compile":
            return (f"Your code does not compile: {_last_line(grade.error_message) or 'syntax error'}. "
                    "Check indentation, colons, quotes and brackets.")
        if fn and not re.search(rf"\bdef\s+{re.escape(fn)}\s*\(", code):
            return f"Define a function named exactly `{fn}` - the tests call `{fn}(...)`."
        failing = next((t for t in grade.tests if not t.passed), None)
        if failing is None:
            return _short(grade.feedback) or None
        exc = failing.exception or ""
        got, expected = (failing.got or "").strip(), (failing.expected or "").strip()
        if failing.timed_out or grade.timed_out or "RecursionError" in exc:
            return ("Your code never finishes on " f"`{_short(failing.source, 60)}`: check that your loop "
                    "ends or that your recursion reaches a base case.")
        returns_nothing = got in ("", "None") and expected not in ("", "None")
        lines = got.splitlines()
        printed_none = bool(lines) and lines[-1] == "None" and len(lines) > 1  # printed, then returned None
        if re.search(r"\bprint\s*\(", code) and not exc and (returns_nothing or printed_none or expected in lines):
            return "Your function prints its answer but returns None - use `return` instead of `print`."
        if returns_nothing and not exc:
            return "Your function returns None on some inputs - make sure every path ends with `return`."
        if exc:
            return f"The case `{_short(failing.source, 60)}` raised {_short(exc, 100)}."
        return f"Check the case `{_short(failing.source, 60)}`: expected {_short(expected, 60)}, got {_short(got, 60)}."


# ---------------------------------------------------------------- comparison


def _passed(grade: Optional[GradeResult]) -> bool:
    return grade is not None and grade.error_type == "no_error"


class CohortOutcome(BaseModel):
    """Outcome measures of one cohort run."""

    trajectories: int
    attempts: int
    pass_rate: float  # share of trajectories whose final attempt passes every test
    mean_attempts_to_pass: Optional[float]  # over trajectories that ever pass (1 = first attempt)
    give_up_rate: float  # share that stopped without passing
    mean_final_test_pass_rate: float  # mean passed/total of final attempts
    hints: int = 0
    stop_reasons: dict[str, int] = Field(default_factory=dict)


def summarise(trajectories: Iterable[Trajectory]) -> CohortOutcome:
    """Pass rate, attempts to pass, give-up rate of finished trajectories."""
    trajs = [t for t in trajectories if t.attempts]
    n = len(trajs) or 1
    to_pass = [next(a.index for a in t.attempts if _passed(a.grade)) + 1
               for t in trajs if any(_passed(a.grade) for a in t.attempts)]
    stops: dict[str, int] = {}
    for t in trajs:
        stops[str(t.stop_reason)] = stops.get(str(t.stop_reason), 0) + 1
    finals = [t.attempts[-1].grade for t in trajs]
    return CohortOutcome(
        trajectories=len(trajs),
        attempts=sum(len(t.attempts) for t in trajs),
        pass_rate=sum(_passed(g) for g in finals) / n,
        mean_attempts_to_pass=sum(to_pass) / len(to_pass) if to_pass else None,
        give_up_rate=sum(not _passed(g) for g in finals) / n,
        mean_final_test_pass_rate=sum(g.pass_rate for g in finals if g is not None) / n,
        hints=sum(1 for t in trajs for a in t.attempts if a.hint),
        stop_reasons=dict(sorted(stops.items())),
    )


class TutorComparison(BaseModel):
    """The same cohort without and with a tutor."""

    tutor: str
    without: CohortOutcome
    with_tutor: CohortOutcome
    out_dir: str = ""

    @property
    def pass_rate_delta(self) -> float:
        return self.with_tutor.pass_rate - self.without.pass_rate

    @property
    def give_up_rate_delta(self) -> float:
        return self.with_tutor.give_up_rate - self.without.give_up_rate

    def table_rows(self) -> list[tuple[str, str, str]]:
        """(measure, without, with) as text, for printing."""
        def fmt(v: Optional[float], pct: bool = True) -> str:
            if v is None:
                return "-"
            return f"{100 * v:.1f} %" if pct else f"{v:.2f}"
        w, t = self.without, self.with_tutor
        return [
            ("trajectories", str(w.trajectories), str(t.trajectories)),
            ("attempts", str(w.attempts), str(t.attempts)),
            ("hints shown", str(w.hints), str(t.hints)),
            ("pass rate (final attempt passes)", fmt(w.pass_rate), fmt(t.pass_rate)),
            ("mean attempts to pass", fmt(w.mean_attempts_to_pass, False), fmt(t.mean_attempts_to_pass, False)),
            ("give-up rate (stopped unpassed)", fmt(w.give_up_rate), fmt(t.give_up_rate)),
            ("mean test pass rate, final attempt", fmt(w.mean_final_test_pass_rate),
             fmt(t.mean_final_test_pass_rate)),
            ("stop reasons", _stops(w.stop_reasons), _stops(t.stop_reasons)),
        ]


def _stops(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def compare_with_tutor(problems: dict[str, Problem], personas: list[Persona], tutor: Union[str, Tutor],
                       *, backend: Any, grader: Any, config: Any, out_dir: Union[str, Path],
                       progress: bool = True, console: Any = None, gaps: Any = None) -> TutorComparison:
    """Run ``config`` (a CohortConfig) into ``out_dir/without`` and ``out_dir/with-<tutor>``
    with identical seeds, and compare. Both runs resume like any cohort. ``gaps``: a
    GapSampler shared by both (default: from ``config.student``)."""
    from simstudent.agent.cohort import Cohort

    name = tutor if isinstance(tutor, str) else getattr(tutor, "name", type(tutor).__name__)
    tutor_obj = get_tutor(tutor) if isinstance(tutor, str) else tutor
    out = Path(out_dir)
    base_cfg = config.model_copy(update={"tutor": None})
    with_cfg = config.model_copy(update={"tutor": name})
    without = Cohort(backend, grader, problems, personas, base_cfg, out / "without", gaps=gaps).run(
        progress=progress, console=console)
    with_t = Cohort(backend, grader, problems, personas, with_cfg, out / f"with-{name}",
                    tutor=tutor_obj, gaps=gaps).run(progress=progress, console=console)
    return TutorComparison(tutor=name, without=summarise(without), with_tutor=summarise(with_t),
                           out_dir=str(out))
