"""Per-problem summary the viewer shows: attempts per stream, final pass rate, error mix.

Plain descriptive counts over the streams loaded (simulated and real apart), so a
course team can see at a glance how a problem went; the realism metrics proper live
in ``simstudent.metrics``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from simstudent.view.model import ViewStream

# Histogram buckets of attempts per stream: 1, 2, ..., 9, 10+.
ATTEMPT_BUCKETS = [str(i) for i in range(1, 10)] + ["10+"]
# Verdict of an attempt: the grader's error type, else the verdict recorded in the log.
VERDICTS = ("no_error", "logical", "runtime", "compile", "recorded_correct", "recorded_incorrect", "unknown")


def verdict(error_type: str | None, correct: bool | None) -> str:
    if error_type:
        return error_type
    if correct is None:
        return "unknown"
    return "recorded_correct" if correct else "recorded_incorrect"


def _bucket(n: int) -> str:
    return ATTEMPT_BUCKETS[min(n, 10) - 1]


def summarise_group(streams: list[ViewStream]) -> dict[str, Any]:
    """Numbers for one (problem, origin) group of streams."""
    lengths = [len(s.attempts) for s in streams if s.attempts]
    mix = Counter(verdict(a.error_type, a.correct) for s in streams for a in s.attempts)
    n_attempts = sum(mix.values())
    hist = Counter(_bucket(n) for n in lengths)
    return {
        "streams": len(streams),
        "students": len({s.student_id for s in streams}),
        "attempts": n_attempts,
        "mean_attempts": statistics.fmean(lengths) if lengths else None,
        "median_attempts": statistics.median(lengths) if lengths else None,
        "pass_rate": (sum(s.outcome == "passed" for s in streams) / len(streams)) if streams else None,
        "error_mix": {v: mix[v] / n_attempts for v in VERDICTS if mix[v]} if n_attempts else {},
        "attempt_hist": [hist[b] for b in ATTEMPT_BUCKETS],
    }


def summarise(streams: list[ViewStream]) -> list[dict[str, Any]]:
    """One row per problem (course prefix dropped, so simulated and real line up), with a
    summary per origin present."""
    by_problem: dict[str, dict[str, list[ViewStream]]] = {}
    for s in streams:
        by_problem.setdefault(s.problem_key, {}).setdefault(s.origin, []).append(s)
    rows = []
    for key in sorted(by_problem):
        groups = by_problem[key]
        rows.append({"problem": key, **{origin: summarise_group(g) for origin, g in sorted(groups.items())}})
    return rows
