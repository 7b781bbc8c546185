"""Closed-loop training examples: what the simulated student sees in ``simstudent run``,
built from real streams.

For every stream of the training split and every attempt t of it, the prompt is the
one the agent would send before its attempt t (:func:`simstudent.agent.prompting.build_request`,
the very function used at inference): the problem, the student's own work on the
problem they started most recently before this one, their earlier attempts on this
problem with the autograder's feedback on each (graded for real in the sandbox against
the course's problem specs, through the grade cache), and, with a ``*-loop-solution``
template, the reference solution marked as unseen by the student. The target is the
student's real attempt t, with ``<SUBMIT>`` after the last one of the stream.

Prompt length is bounded like this at training *and* at inference (the adapter records
it): the latest ``history`` attempts with their feedback (default 4), ``context_attempts``
attempts of the past problem (the agent's default, 2), and the attempt budget
``max_attempts`` (the agent's default, 8) for the relative position in the past stream.
"""

from __future__ import annotations

from typing import Optional, Sequence

from pydantic import BaseModel, Field

from simstudent.errors import ConfigError
from simstudent.schema import Attempt, Dataset, Persona, Problem

DEFAULT_HISTORY = 4


class RenderedExample(BaseModel):
    """A training example already rendered to a prompt (or chat messages) and its completion."""

    key: str
    student_id: str
    problem_id: str
    target_index: int
    is_final: bool
    prompt: Optional[str] = None
    messages: Optional[list[dict[str, str]]] = None
    completion: str


class LoopDataSettings(BaseModel):
    """How loop examples are built; recorded in the adapter and used again at inference."""

    history: int = Field(DEFAULT_HISTORY, ge=1, description="Latest attempts (with feedback) shown in a prompt.")
    context_attempts: int = Field(2, ge=1, description="Attempts of the past problem shown.")
    max_attempts: int = Field(8, ge=1, description="Attempt budget used to place the past-problem window.")


def grade_streams(dataset: Dataset, problems: dict[str, Problem], grader_config: object = None) -> int:
    """Grade every submission of ``dataset`` against ``problems`` (cached); returns
    how many were graded. Submissions of problems without tests keep no grade."""
    from simstudent.grader import Grader, GraderConfig
    from simstudent.grader.dataset import grade_dataset

    graded = Dataset(name=dataset.name, streams=dataset.streams, problems=problems, provenance=dataset.provenance)
    with Grader(grader_config or GraderConfig()) as grader:  # type: ignore[arg-type]
        return grade_dataset(graded, grader, overwrite=True)


def build_loop_examples(dataset: Dataset, problems: dict[str, Problem], template: str,
                        settings: Optional[LoopDataSettings] = None) -> list[RenderedExample]:
    """One example per submission of every (graded) stream of ``dataset``."""
    from simstudent.agent.prompting import PromptSettings, ResolvedTemplate, build_request
    from simstudent.models.base import SamplingParams
    from simstudent.prompts import format_completion, get_template

    settings = settings or LoopDataSettings()
    tpl = get_template(template)
    if tpl.exp != "loop":
        raise ConfigError(f"loop examples need a loop template, not {template!r}")
    resolved = ResolvedTemplate(tpl, 3, "training", settings.history)
    prompt_settings = PromptSettings(context=True, context_attempts=settings.context_attempts)
    by_student: dict[str, list] = {}
    for stream in dataset.streams:
        by_student.setdefault(stream.student_id, []).append(stream)
    out: list[RenderedExample] = []
    for stream in dataset.streams:
        if not stream.ordered or not stream.submissions:
            continue
        persona = Persona(id=stream.student_id, history=by_student[stream.student_id], source="training")
        problem = problems[stream.problem_id]
        subs = sorted(stream.submissions, key=lambda s: s.order)
        attempts: list[Attempt] = []
        for t, sub in enumerate(subs):
            request = build_request(resolved, problem, persona, attempts, index=t,
                                    max_attempts=settings.max_attempts, hint=None, settings=prompt_settings,
                                    sampling=SamplingParams(), adapter=None)
            final = t == len(subs) - 1
            out.append(RenderedExample(
                key=f"{stream.student_id}|{stream.problem_id}|{t}|{template}", student_id=stream.student_id,
                problem_id=stream.problem_id, target_index=t, is_final=final, prompt=request.prompt,
                messages=request.messages, completion=format_completion(sub.code, final),
            ))
            attempts.append(Attempt(index=t, code=sub.code, grade=sub.grade))
    return out


def loop_counts(examples: Sequence[RenderedExample]) -> dict[str, int]:
    """How many examples and final ones (for printing)."""
    return {"examples": len(examples), "final": sum(1 for e in examples if e.is_final)}
