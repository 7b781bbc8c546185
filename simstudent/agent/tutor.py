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

import hashlib
import inspect
import re
from pathlib import Path
from typing import Any, Optional, Protocol, Union, runtime_checkable

from pydantic import BaseModel, Field

from simstudent.agent.summary import CohortOutcome, PairedDifference, paired_difference, passed, summarise
from simstudent.registry import Registry
from simstudent.schema import Persona, Problem, Trajectory


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


class TutorFingerprint(BaseModel):
    """What identifies a tutor's behaviour, recorded in a cohort's manifest so that a
    changed tutor is never silently resumed into old attempts."""

    name: str = Field(description="the tutor's name attribute, else its class name")
    version: Optional[str] = Field(None, description="the tutor's `version` attribute, when it has one")
    source_sha256: Optional[str] = Field(
        None, description="hash of the tutor class's source when it has no version (None: source not available)")


def tutor_name(tutor: Any) -> str:
    return str(getattr(tutor, "name", None) or type(tutor).__name__)


def tutor_fingerprint(tutor: Any) -> TutorFingerprint:
    """The tutor's name plus its ``version`` attribute or, without one, a hash of its
    class's source code (so editing the tutor changes the fingerprint)."""
    version = getattr(tutor, "version", None)
    if version is not None:
        return TutorFingerprint(name=tutor_name(tutor), version=str(version))
    try:
        source = inspect.getsource(type(tutor))
    except (OSError, TypeError):  # defined interactively: no file to hash
        source = None
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest() if source else None
    return TutorFingerprint(name=tutor_name(tutor), source_sha256=digest)


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


class TutorComparison(BaseModel):
    """The same cohort without and with a tutor."""

    tutor: str
    without: CohortOutcome
    with_tutor: CohortOutcome
    differences: list[PairedDifference] = Field(default_factory=list)
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
            ("gave up (stopped unpassed before the budget)", fmt(w.give_up_rate), fmt(t.give_up_rate)),
            ("mean test pass rate, final attempt", fmt(w.mean_final_test_pass_rate),
             fmt(t.mean_final_test_pass_rate)),
            ("truncated attempts", str(w.truncated_attempts), str(t.truncated_attempts)),
            ("stop reasons", _stops(w.stop_reasons), _stops(t.stop_reasons)),
        ]

    def difference_rows(self) -> list[tuple[str, str, str]]:
        """(measure, paired mean difference, confidence interval) as text."""
        rows = []
        for d in self.differences:
            mean = "-" if d.mean is None else f"{100 * d.mean:+.1f} pp"
            ci = ("-" if d.ci_low is None or d.ci_high is None else
                  f"[{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}] pp ({100 * d.confidence:.0f} %, n={d.n})")
            rows.append((d.measure, mean, ci))
        return rows


def _stops(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def compare_with_tutor(problems: dict[str, Problem], personas: list[Persona], tutor: Union[str, Tutor],
                       *, backend: Any, grader: Any, config: Any, out_dir: Union[str, Path],
                       progress: bool = True, console: Any = None, gaps: Any = None) -> TutorComparison:
    """Run ``config`` (a CohortConfig) into ``out_dir/without`` and ``out_dir/with-<tutor>``
    with identical seeds, and compare. Both runs resume like any cohort. ``gaps``: a
    GapSampler shared by both (default: from ``config.student``)."""
    from simstudent.agent.cohort import Cohort

    name = tutor if isinstance(tutor, str) else tutor_name(tutor)
    tutor_obj = get_tutor(tutor) if isinstance(tutor, str) else tutor
    out = Path(out_dir)
    base_cfg = config.model_copy(update={"tutor": None})
    with_cfg = config.model_copy(update={"tutor": name})
    without = Cohort(backend, grader, problems, personas, base_cfg, out / "without", gaps=gaps).run(
        progress=progress, console=console)
    with_t = Cohort(backend, grader, problems, personas, with_cfg, out / f"with-{name}",
                    tutor=tutor_obj, gaps=gaps).run(progress=progress, console=console)
    return TutorComparison(tutor=name, without=summarise(without), with_tutor=summarise(with_t),
                           differences=paired_differences(without, with_t), out_dir=str(out))


def paired_differences(without: list[Trajectory], with_tutor: list[Trajectory]) -> list[PairedDifference]:
    """Per (student, problem) pair: with minus without, for passing and for the final
    attempt's test pass rate (see :func:`simstudent.agent.summary.paired_difference`)."""
    a = {(t.student_id, t.problem_id): t for t in without if t.attempts}
    b = {(t.student_id, t.problem_id): t for t in with_tutor if t.attempts}
    keys = sorted(set(a) & set(b))

    def final(t: Trajectory) -> Any:
        return t.attempts[-1].grade

    def rate(t: Trajectory) -> float:
        return final(t).pass_rate if final(t) is not None else 0.0

    return [
        paired_difference("pass rate (final attempt passes)",
                          [float(passed(final(a[k]))) for k in keys], [float(passed(final(b[k]))) for k in keys]),
        paired_difference("test pass rate, final attempt", [rate(a[k]) for k in keys], [rate(b[k]) for k in keys]),
    ]
