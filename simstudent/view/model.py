"""What the viewer shows: one :class:`ViewStream` per (student, problem), whatever the source.

Simulated trajectories (cohort folders, ``run`` output, eval run folders) and real
students' streams (any dataset ``load_dataset`` reads) are turned into the same shape,
so the page treats them alike and a blind comparison has nothing format-specific to
give away.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from simstudent.errors import InputError

Origin = Literal["simulated", "real"]
# Final outcome of a stream, for the outcome filter.
Outcome = Literal["passed", "failed", "error", "empty", "unknown"]


class ViewError(InputError):
    """A path given to ``simstudent view`` that cannot be shown (names the file and why)."""


class ViewAttempt(BaseModel):
    """One attempt as the page shows it."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(description="0-based position in the stream.")
    code: str = Field(description="The code that was graded.")
    timestamp: Optional[datetime] = Field(None, description="When the attempt was made.")
    error_type: Optional[str] = Field(None, description="Grader verdict: no_error, logical, runtime, compile.")
    passed: Optional[int] = Field(None, description="Tests passed (when graded).")
    total: Optional[int] = Field(None, description="Tests run (when graded).")
    correct: Optional[bool] = Field(None, description="Passes every test: the grade's verdict, else the recorded one.")
    feedback: str = Field("", description="The autograder's feedback text.")
    hint: Optional[str] = Field(None, description="A tutor's hint shown before this attempt.")
    truncated: Optional[bool] = Field(None, description="Generation hit the token limit (finish_reason 'length'); None when unknown.")
    submitted: bool = Field(False, description="The student marked it as their submission.")
    given: bool = Field(False, description="Copied from a real student's stream (a rollout's prefix), not generated.")


class ViewStream(BaseModel):
    """One student's attempts at one problem."""

    model_config = ConfigDict(extra="forbid")

    student_id: str
    problem_id: str
    persona: str = Field(description="Persona the simulated student came from; 'real' for real students.")
    origin: Origin
    source: str = Field(description="The path the stream was read from.")
    attempts: list[ViewAttempt] = Field(default_factory=list)
    stop_reason: Optional[str] = None
    graded: bool = Field(False, description="Attempts carry the grader's verdicts (not only a recorded one).")

    @property
    def outcome(self) -> Outcome:
        if self.stop_reason == "error":
            return "error"
        if not self.attempts:
            return "empty"
        last = self.attempts[-1].correct
        return "unknown" if last is None else ("passed" if last else "failed")

    @property
    def problem_key(self) -> str:
        """The problem id without its course prefix (``itap/oneToN`` -> ``oneToN``), so
        simulated and real streams of the same problem line up."""
        return self.problem_id.rsplit("/", 1)[-1]
