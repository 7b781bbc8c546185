"""Outcome measures of a set of trajectories (a cohort, one arm of a tutor comparison).

Definitions (per trajectory, on its final attempt):

- **passed**: the final attempt passes every test;
- **gave up**: stopped *without* passing and *before* its attempt budget - by
  ``<SUBMIT>`` or by stalling. A student who used every attempt ran out of budget,
  and one whose backend failed stopped for a technical reason: neither gave up;
- **ran out**: used the whole attempt budget without passing;
- **truncated attempts**: cut by the token limit (``Attempt.truncated``); their grade
  (usually a compile error) says nothing about the student, so they are counted
  apart from the error types.
"""

from __future__ import annotations

from typing import Iterable, Optional

from pydantic import BaseModel, Field

from simstudent.schema import GradeResult, Trajectory


def passed(grade: Optional[GradeResult]) -> bool:
    """An attempt passes when the grader found no error."""
    return grade is not None and grade.error_type == "no_error"


def budget_of(traj: Trajectory) -> Optional[int]:
    """The attempt budget a trajectory ran under (recorded in its meta)."""
    value = traj.meta.get("max_attempts")
    return int(value) if value is not None else None


def gave_up(traj: Trajectory) -> bool:
    """Stopped without passing before the attempt budget (see the module docstring)."""
    if not traj.attempts or passed(traj.attempts[-1].grade):
        return False
    if traj.stop_reason in ("max_attempts", "error", None):
        return False
    budget = budget_of(traj)
    return budget is None or len(traj.attempts) < budget


class CohortOutcome(BaseModel):
    """Outcome measures of one set of trajectories (see the module docstring)."""

    trajectories: int = Field(description="trajectories with at least one attempt")
    attempts: int = Field(description="attempts in them")
    pass_rate: float = Field(description="share whose final attempt passes every test")
    mean_attempts_to_pass: Optional[float] = Field(
        description="mean attempts up to the first passing one, over trajectories that pass at some point")
    give_up_rate: float = Field(description="share that stopped without passing before their attempt budget")
    ran_out_rate: float = Field(0.0, description="share that used the whole budget without passing")
    mean_final_test_pass_rate: float = Field(description="mean passed/total of the final attempts")
    mean_attempts: float = Field(0.0, description="mean attempts per trajectory")
    hints: int = Field(0, description="attempts made after a tutor's hint")
    truncated_attempts: int = Field(0, description="attempts cut by the token limit")
    stop_reasons: dict[str, int] = Field(default_factory=dict, description="trajectories per stop reason")
    error_types: dict[str, int] = Field(
        default_factory=dict, description="attempts per error type; truncated attempts under 'truncated'")


def summarise(trajectories: Iterable[Trajectory]) -> CohortOutcome:
    """The outcome measures of finished trajectories."""
    trajs = [t for t in trajectories if t.attempts]
    n = len(trajs) or 1
    to_pass = [next(a.index for a in t.attempts if passed(a.grade)) + 1
               for t in trajs if any(passed(a.grade) for a in t.attempts)]
    stops: dict[str, int] = {}
    errors: dict[str, int] = {}
    for t in trajs:
        stops[str(t.stop_reason)] = stops.get(str(t.stop_reason), 0) + 1
        for a in t.attempts:
            key = "truncated" if a.truncated else (a.grade.error_type if a.grade else "ungraded")
            errors[key] = errors.get(key, 0) + 1
    finals = [t.attempts[-1].grade for t in trajs]
    attempts = sum(len(t.attempts) for t in trajs)
    return CohortOutcome(
        trajectories=len(trajs),
        attempts=attempts,
        pass_rate=sum(passed(g) for g in finals) / n,
        mean_attempts_to_pass=sum(to_pass) / len(to_pass) if to_pass else None,
        give_up_rate=sum(gave_up(t) for t in trajs) / n,
        ran_out_rate=sum(t.stop_reason == "max_attempts" and not passed(t.attempts[-1].grade)
                         for t in trajs) / n,
        mean_final_test_pass_rate=sum(g.pass_rate for g in finals if g is not None) / n,
        mean_attempts=attempts / n,
        hints=sum(1 for t in trajs for a in t.attempts if a.hint),
        truncated_attempts=sum(1 for t in trajs for a in t.attempts if a.truncated),
        stop_reasons=dict(sorted(stops.items())),
        error_types=dict(sorted(errors.items())),
    )


def per_problem(trajectories: Iterable[Trajectory]) -> dict[str, CohortOutcome]:
    """:func:`summarise` for each problem, in order of first appearance."""
    groups: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        groups.setdefault(t.problem_id, []).append(t)
    return {pid: summarise(ts) for pid, ts in groups.items()}


class PairedDifference(BaseModel):
    """mean(with - without) over paired trajectories, with a t confidence interval."""

    measure: str
    n: int = Field(description="pairs (same student, problem and seeds in both arms)")
    mean: Optional[float] = Field(description="mean of the per-pair differences (with minus without)")
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    confidence: float = 0.95


def paired_difference(measure: str, without: list[float], with_: list[float],
                      confidence: float = 0.95) -> PairedDifference:
    """Paired t interval for the mean difference ``with_[i] - without[i]``.

    The two arms share students, problems and sampling seeds, so pairing removes
    the between-student variance. With fewer than two pairs there is no interval;
    with zero spread the interval is the point itself.
    """
    if len(without) != len(with_):
        raise ValueError(f"{measure}: {len(without)} vs {len(with_)} values: the arms are not paired")
    diffs = [b - a for a, b in zip(without, with_)]
    n = len(diffs)
    if n == 0:
        return PairedDifference(measure=measure, n=0, mean=None, confidence=confidence)
    mean = sum(diffs) / n
    if n < 2:
        return PairedDifference(measure=measure, n=n, mean=mean, confidence=confidence)
    from scipy import stats

    sd = (sum((d - mean) ** 2 for d in diffs) / (n - 1)) ** 0.5
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / n ** 0.5
    return PairedDifference(measure=measure, n=n, mean=mean, ci_low=mean - half, ci_high=mean + half,
                            confidence=confidence)
