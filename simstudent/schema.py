"""Data model shared by every stage of simstudent.

Everything that crosses a stage boundary (importer -> grader -> agent -> metrics ->
report) is one of these pydantic models, so it can be written to JSON and read back
without loss. The native on-disk format is JSONL (see ``simstudent.data.jsonl``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field
from simstudent.errors import NotFoundError

ErrorType = Literal["no_error", "logical", "runtime", "compile"]
ERROR_TYPES: tuple[str, ...] = ("no_error", "logical", "runtime", "compile")

# Two ways to count a pass rate, both reported:
# - "errors_as_zero": code that fails to compile or crashes scores passed/total
#   (0 for compile errors) - simstudent's default;
# - "errors_excluded": the seed paper's code leaves the pass rate undefined (None)
#   for compile and runtime errors, so they drop out of means.
PassRateConvention = Literal["errors_as_zero", "errors_excluded"]

IsolationLevel = Literal["bubblewrap", "unshare", "none"]

StopReason = Literal["submitted", "max_attempts", "stalled", "gave_up", "error", "passed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TestCase(_Model):
    """One test of a problem.

    - ``doctest``: ``source`` holds the statements after ``>>>`` / ``...`` (newline
      separated); ``expected`` the output doctest would compare against (repr text).
    - ``assert``: ``source`` is Python that raises AssertionError on failure
      (e.g. the Dublin ``test`` column).
    - ``io``: the whole program runs with ``source`` as stdin; its stdout must equal
      ``expected`` (trailing whitespace ignored).
    - ``script``: the program runs afresh in a process of its own, with ``stdin`` as
      input; then ``source``, if not empty, is evaluated as an expression and its repr
      must match ``expected`` (as doctest compares); with no expression the program's
      stdout must equal ``expected`` (trailing whitespace ignored).
    """

    __test__ = False  # not a pytest test class

    kind: Literal["doctest", "assert", "io", "script"]
    source: str
    expected: str = ""
    name: str = ""
    stdin: str = ""  # script tests: what the program reads from standard input


class Problem(_Model):
    """A programming problem: what the student sees, plus the hidden parts."""

    id: str
    title: str = ""
    homework: str = ""
    topic: str = ""
    instructions: str = ""
    fixed_code: str = ""
    skeleton_code: str = ""
    tests: list[TestCase] = Field(default_factory=list)
    reference_solution: Optional[str] = None  # shown to a model only by the solution-aware templates
    tags: list[str] = Field(default_factory=list)
    function_name: Optional[str] = None
    course: str = ""


class TestOutcome(_Model):
    """What happened in one test."""

    __test__ = False

    name: str = ""
    source: str = ""
    passed: bool
    expected: Optional[str] = None
    got: Optional[str] = None
    exception: Optional[str] = None  # last line of the traceback, if it raised
    timed_out: bool = False


class GradeResult(_Model):
    """The autograder's verdict on one piece of code."""

    error_type: ErrorType
    passed: int
    total: int
    timed_out: bool = False
    tests: list[TestOutcome] = Field(default_factory=list)
    feedback: str = ""
    error_message: Optional[str] = None  # compile error or top-level exception
    isolation: IsolationLevel = "none"
    duration_s: float = 0.0
    cached: bool = False

    @property
    def pass_rate(self) -> float:
        """passed / total under the default convention (errors count as 0 passed)."""
        return self.passed / self.total if self.total else 0.0

    def pass_rate_under(self, convention: PassRateConvention) -> Optional[float]:
        """Pass rate under a named convention; None where it is undefined."""
        if convention == "errors_excluded" and self.error_type in ("compile", "runtime"):
            return None
        return self.pass_rate

    def summary(self) -> dict[str, Any]:
        """The flat fields most callers print or tabulate."""
        return {
            "error_type": self.error_type,
            "passed": self.passed,
            "total": self.total,
            "pass_rate": self.pass_rate,
            "timed_out": self.timed_out,
            "feedback": self.feedback,
            "isolation": self.isolation,
        }


class Submission(_Model):
    """One attempt by a real student."""

    code: str
    order: int
    timestamp: Optional[datetime] = None
    recorded_correct: Optional[bool] = None  # verdict stored in the source log
    grade: Optional[GradeResult] = None  # simstudent's own verdict, when graded
    event_id: Optional[str] = None


class Stream(_Model):
    """One student's attempts at one problem, in order (``ordered=False`` when the
    source has no order, as in the Dublin data)."""

    student_id: str
    problem_id: str
    submissions: list[Submission] = Field(default_factory=list)
    ordered: bool = True

    def __len__(self) -> int:
        return len(self.submissions)


class Provenance(_Model):
    """Where a dataset came from and what the importer saw on the way."""

    source: str = ""
    format: str = ""
    imported_at: Optional[datetime] = None
    event_counts: dict[str, int] = Field(default_factory=dict)
    skipped_rows: int = 0
    skip_reasons: dict[str, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    # Students the source logged with no submission at all (e.g. only hint
    # requests in ITAP): they have no stream but still count as students.
    students_without_streams: list[str] = Field(default_factory=list)


class Dataset(_Model):
    """Streams plus the problems they are about."""

    name: str = ""
    streams: list[Stream] = Field(default_factory=list)
    problems: dict[str, Problem] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)

    @property
    def students(self) -> list[str]:
        return sorted({s.student_id for s in self.streams})

    @property
    def problem_ids(self) -> list[str]:
        return sorted({s.problem_id for s in self.streams} | set(self.problems))

    @property
    def n_submissions(self) -> int:
        return sum(len(s.submissions) for s in self.streams)


class Persona(_Model):
    """Who the simulated student is: an id, optional habits, and their own past work
    (streams on earlier problems) - the context the paper conditions on."""

    id: str
    description: str = ""
    habits: list[str] = Field(default_factory=list)
    history: list[Stream] = Field(default_factory=list)
    problems: dict[str, Problem] = Field(default_factory=dict)  # problems of the history
    source: str = ""

    @classmethod
    def from_dataset(cls, dataset: Dataset, student_id: str) -> "Persona":
        """A real student's persona: every stream of theirs in ``dataset``."""
        history = [s for s in dataset.streams if s.student_id == student_id]
        if not history:
            known = ", ".join(dataset.students[:10])
            raise NotFoundError(f"student {student_id!r} not in dataset {dataset.name!r} (e.g. {known})")
        used = {s.problem_id for s in history}
        return cls(
            id=student_id,
            history=history,
            problems={p: dataset.problems[p] for p in used if p in dataset.problems},
            source=f"dataset:{dataset.name}",
        )


class Example(_Model):
    """One training or evaluation example, exactly as the seed paper defines them.

    exp1 (low resolution): the target is the attempt at ``stage`` of a stream; with
    context, ``context`` holds the same student's attempt at the same stage on an
    earlier problem. exp2 (high resolution): the target is attempt ``target_index``;
    ``prior`` holds the k attempts before it, oldest first, ``None`` where the stream
    has fewer; with context, ``context`` holds k+1 attempts of an earlier problem's
    stream at the same relative position. ``is_final`` marks a stream's last attempt
    (its completion carries ``<SUBMIT>``).
    """

    exp: Literal["exp1", "exp2"]
    student_id: str
    problem_id: str
    target_index: int
    target: str
    stream_length: int
    is_final: bool = False
    stage: Optional[Literal["first", "middle", "last"]] = None  # exp1
    k: Optional[int] = None  # exp2
    prior: list[Optional[str]] = Field(default_factory=list)  # exp2
    context_problem_id: Optional[str] = None
    context_indices: list[Optional[int]] = Field(default_factory=list)
    context: list[Optional[str]] = Field(default_factory=list)
    target_grade: Optional[GradeResult] = None
    target_correct: Optional[bool] = None

    @property
    def key(self) -> str:
        """Stable id for joining results back to the source stream."""
        ctx = "ctx" if self.context_problem_id else "noctx"
        tail = self.stage if self.exp == "exp1" else f"k{self.k}"
        return f"{self.exp}:{self.student_id}:{self.problem_id}:{self.target_index}:{tail}:{ctx}"


# Why generation of an attempt ended: a stop string or end of text ("stop"), the
# token limit ("length": the code is cut off, so its grade says nothing about the
# student), or the model's <SUBMIT> ("submit").
FinishReason = Literal["stop", "length", "submit"]


class Attempt(_Model):
    """One attempt of a simulated student."""

    index: int
    code: str
    completion: str = ""  # raw model output the code was parsed from
    grade: Optional[GradeResult] = None
    submitted: bool = False  # the model emitted <SUBMIT> with this attempt
    timestamp: Optional[datetime] = None
    hint: Optional[str] = None  # extra feedback (e.g. a tutor's) shown before it
    prompt: Optional[str] = None
    # None for attempts not generated here (a real student's prefix in a rollout)
    # and for records written before these fields existed.
    finish_reason: Optional[FinishReason] = None
    completion_tokens: Optional[int] = None  # tokens the model generated for it
    sampling: Optional[dict[str, Any]] = None  # the sampling settings it ran with

    @property
    def truncated(self) -> bool:
        """The token limit cut this attempt off: its grade is not a student's mistake."""
        return self.finish_reason == "length"


class Trajectory(_Model):
    """A simulated stream: the attempts one simulated student made on one problem."""

    student_id: str
    problem_id: str
    attempts: list[Attempt] = Field(default_factory=list)
    stop_reason: Optional[StopReason] = None
    model: str = ""
    adapter: Optional[str] = None
    template: str = ""
    seed: Optional[int] = None
    meta: dict[str, Any] = Field(default_factory=dict)

    def to_stream(self) -> Stream:
        """The trajectory as a Stream, so every metric for real data applies."""
        return Stream(
            student_id=self.student_id,
            problem_id=self.problem_id,
            submissions=[
                Submission(
                    code=a.code,
                    order=a.index,
                    timestamp=a.timestamp,
                    grade=a.grade,
                    recorded_correct=(a.grade.error_type == "no_error") if a.grade else None,
                )
                for a in self.attempts
            ],
        )
