"""Grader stage: a sandboxed, pooled autograder with doctest / assert / io tests.

``Grader(config).grade(problem, code) -> GradeResult``; see ``docs/grader.md``.
Modules: ``config`` (GraderConfig), ``sandbox`` (isolation levels, worker command
lines), ``pool`` (worker processes), ``worker`` / ``harness`` / ``wire`` (what runs
inside the sandbox, stdlib only), ``verdicts`` (judging), ``feedback`` (okpy-style
text), ``cache`` (SQLite), ``agreement`` (re-grading recorded verdicts),
``doctests`` (parse ``>>>`` text).
"""

from simstudent.grader.config import GraderConfig
from simstudent.grader.grader import GRADER_VERSION, Grader

__all__ = ["GRADER_VERSION", "Grader", "GraderConfig"]
