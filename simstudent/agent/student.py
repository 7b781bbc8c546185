"""The closed-loop simulated student.

One :class:`SimulatedStudent` works one problem at a time: it builds a prompt (the
persona's work on an earlier problem, the problem, its own attempts so far and the
autograder's feedback on them), samples one completion, parses the code out of it,
grades that code in the sandbox and records an :class:`~simstudent.schema.Attempt`.
It stops when the model emits ``<SUBMIT>``, when the code passes every test (a
student whose autograder run is all green is done; ``stop_on_pass``), when it stalls
(the same code up to comments and layout - :func:`simstudent.metrics.normalise.normalise_code` -
``stall_repeats`` times in a row), at ``max_attempts``,
or when the backend fails.

The step API (:meth:`SimulatedStudent.next_attempt`) lets a caller - a tutor, a
notebook - look at the trajectory and add feedback before each attempt. Cohorts use
the two halves of a step (:meth:`prepare` and :meth:`record`) to batch generation
across many students.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict
from datetime import datetime
from typing import Any, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from simstudent.agent.prompting import PromptSettings, build_request, extract_code, resolve_template
from simstudent.agent.timing import DEFAULT_START, GapSampler
from simstudent.models.errors import BackendError
from simstudent.metrics.normalise import normalise_code
from simstudent.models.base import Backend, Completion, GenerationRequest, SamplingParams
from simstudent.schema import Attempt, GradeResult, Persona, Problem, StopReason, Trajectory

DEFAULT_MAX_NEW_TOKENS = 192  # an intro-course attempt fits; keeps CPU generation short
# Cut an attempt whose last line (or block of lines) repeats 3 times in a row: the untuned
# default model loops like this until the budget, and the attempt is truncated either way
# (recorded as finish reason "length", sampling["cut"] == "repetition").
DEFAULT_STOP_REPEATS = 3


class StudentConfig(BaseModel):
    """How a simulated student samples, what it sees and when it stops."""

    model_config = ConfigDict(extra="forbid")

    template: Optional[str] = Field(
        None, description="Prompt template (chat-loop, ft-loop, ft-exp2-ctx, ...); default: the adapter's, else chat-loop.")
    chat: Optional[bool] = Field(
        None, description="Chat prompt for the loop template (None: chat, for instruct models; False: ft-loop raw text).")
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(max_new_tokens=DEFAULT_MAX_NEW_TOKENS, stop_repeats=DEFAULT_STOP_REPEATS),
        description="Sampling settings; each attempt's seed is derived from (seed, student, problem, attempt); "
                    "stop_repeats cuts looping text (hf loop decoder).")
    adapter: Optional[str] = Field(
        None, description="LoRA adapter folder (its simstudent.json picks the prompt template) or a name the server knows.")
    adapter_name: Optional[str] = Field(
        None, description="What requests call the adapter (default: adapter), e.g. a vLLM LoRA module name.")
    model: str = Field("", description="Model name recorded in trajectories.")
    max_attempts: int = Field(8, ge=1, description="Stop after this many attempts.")
    stall_repeats: int = Field(3, ge=2, description="Stop when this many attempts in a row are the same code.")
    stop_on_pass: bool = Field(True, description="Stop when an attempt passes every test.")
    redraw_repeats: int = Field(
        3, ge=0, description="Draw an attempt again (another seed), up to this many times, while its code is the "
        "previous attempt's unchanged (up to comments and layout): real students rarely resubmit unchanged code "
        "(5 % of consecutive ITAP submissions), a small model often does. A redraw samples the model's whole "
        "distribution (temperature 1, no top-p/top-k, min-p 0.05). The count is recorded in the attempt's sampling settings "
        "('redraws'). 0 = off.")
    ignore_failing_submit: bool = Field(
        True, description="A <SUBMIT> on an attempt that fails a test does not end the trajectory: the attempt is "
        "recorded as submitted and the student goes on. The model writes <SUBMIT> before it sees the autograder's "
        "verdict; a real student decides to stop after seeing it.")
    seed: int = Field(0, description="Seed for sampling and timestamps.")
    prompt: PromptSettings = Field(default_factory=PromptSettings, description="What the prompt shows besides the problem.")
    gap_source: Optional[str] = Field(
        None, description="Dataset whose real inter-submission gaps time the attempts (default: lognormal, median 60 s).")
    max_gap_s: Optional[float] = Field(None, description="Longest gap between two attempts, in seconds.")
    start_time: datetime = Field(DEFAULT_START, description="Time of a trajectory's start (first attempt = start + a gap).")
    save_prompts: bool = Field(True, description="Store each attempt's prompt on it.")
    prime_signature: bool = Field(
        True, description="chat-loop only: start the answer with <code> and the main function's signature line.")
    solution_aware: bool = Field(False, description="Show the model the problem's reference solution, marked as the "
                                 "instructor's solution the student has not seen (the *-loop-solution templates).")


# How a redraw samples: temperature 1 without top-p / top-k, i.e. the model's own
# distribution of next attempts, conditioned (by rejection) on a change; min-p 0.05
# drops only tokens under 5 % of the likeliest one's probability (untruncated, a 135M
# model's far tail wrote "#include<math.h" into Python attempts).
REDRAW_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.05}


def derive_seed(seed: int, *parts: Any) -> int:
    """A stable 63-bit seed from a base seed and any labels (student, problem, index).

    Independent of process, batch composition and order, so a resumed cohort draws
    exactly what an uninterrupted one would.
    """
    text = "\x1f".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def stop_reason_for(attempts: Sequence[Attempt], max_attempts: int, config: StudentConfig) -> Optional[StopReason]:
    """Why a trajectory with these attempts is finished, or None if it goes on.

    Pure function of the attempts (and the config's stop rules) so a resumed cohort
    re-derives it from disk.
    """
    if not attempts:
        return None
    last = attempts[-1]
    passed = last.grade is not None and last.grade.error_type == "no_error"
    if last.submitted and (passed or not config.ignore_failing_submit):
        return "submitted"
    if config.stop_on_pass and passed:
        return "passed"
    stall_repeats = config.stall_repeats
    if len(attempts) >= stall_repeats:
        tail = {normalise_code(a.code) for a in attempts[-stall_repeats:]}
        if len(tail) == 1:
            return "stalled"
    if len(attempts) >= max_attempts:
        return "max_attempts"
    return None


class SimulatedStudent:
    """A model + grader + persona that works problems attempt by attempt.

    ``backend`` is any :class:`~simstudent.models.base.Backend`; ``grader`` anything
    with ``grade(problem, code)`` (a :class:`simstudent.grader.Grader`). ``student_id``
    names the student in trajectories (default: the persona id).
    """

    def __init__(self, backend: Backend, grader: Any, persona: Persona,
                 config: Optional[StudentConfig] = None, *, student_id: Optional[str] = None,
                 gaps: Optional[GapSampler] = None) -> None:
        self.backend = backend
        self.grader = grader
        self.persona = persona
        self.config = config or StudentConfig()
        self.student_id = student_id or persona.id
        self.template = resolve_template(self.config)
        if gaps is None:
            gaps = (GapSampler.from_dataset(self.config.gap_source, max_gap_s=self.config.max_gap_s)
                    if self.config.gap_source else GapSampler(max_gap_s=self.config.max_gap_s))
        self.gaps = gaps
        self.problem: Optional[Problem] = None
        self._trajectory: Optional[Trajectory] = None
        self._max_attempts = self.config.max_attempts
        self._pending_hint: Optional[str] = None
        self._draw = 0  # redraws of the pending attempt (StudentConfig.redraw_repeats)

    # ---------------------------------------------------------------- state
    @property
    def trajectory(self) -> Trajectory:
        if self._trajectory is None:
            raise RuntimeError("no problem started: call start(problem) or solve(problem)")
        return self._trajectory

    @property
    def done(self) -> bool:
        """True once the current trajectory has a stop reason."""
        return self._trajectory is not None and self._trajectory.stop_reason is not None

    def start(self, problem: Problem, max_attempts: Optional[int] = None,
              attempts: Sequence[Attempt] = ()) -> Trajectory:
        """Begin (or, given earlier ``attempts``, resume) a trajectory on ``problem``."""
        self.problem = problem
        self._max_attempts = max_attempts or self.config.max_attempts
        self._trajectory = Trajectory(
            student_id=self.student_id,
            problem_id=problem.id,
            attempts=list(attempts),
            model=self.config.model or getattr(self.backend, "name", ""),
            adapter=self.config.adapter,
            template=self.template.name,
            seed=self.config.seed,
            meta={"persona": self.persona.id, "gaps": self.gaps.source,
                  "max_attempts": self._max_attempts, "stall_repeats": self.config.stall_repeats,
                  "stop_on_pass": self.config.stop_on_pass,
                  "ignore_failing_submit": self.config.ignore_failing_submit},
        )
        self._trajectory.stop_reason = stop_reason_for(self._trajectory.attempts, self._max_attempts, self.config)
        return self._trajectory

    def solve(self, problem: Problem, max_attempts: Optional[int] = None) -> Trajectory:
        """Work ``problem`` until a stop rule fires; return the trajectory."""
        self.start(problem, max_attempts)
        while not self.done:
            self.next_attempt()
        return self.trajectory

    # ---------------------------------------------------------------- one step
    def prepare(self, extra_feedback: Optional[str] = None) -> GenerationRequest:
        """The generation request for the next attempt (first half of a step)."""
        if self.done:
            raise RuntimeError(f"trajectory already finished ({self.trajectory.stop_reason})")
        self._pending_hint = extra_feedback
        self._draw = 0
        return self._request()

    def wants_redraw(self, completion: Completion) -> bool:
        """Whether this completion repeats the previous attempt unchanged while
        ``redraw_repeats`` allows another draw (see :meth:`redraw`)."""
        attempts = self.trajectory.attempts
        if self._draw >= self.config.redraw_repeats or not attempts or completion.finish_reason == "error":
            return False
        return normalise_code(self.parse(completion)[0]) == normalise_code(attempts[-1].code)

    def redraw(self) -> GenerationRequest:
        """The same request with the next redraw's seed (the attempt is drawn again)."""
        self._draw += 1
        return self._request()

    def _request(self) -> GenerationRequest:
        traj = self.trajectory
        index = len(traj.attempts)
        extra_feedback = self._pending_hint
        # The first draw keeps the attempt's own seed; each redraw gets a seed of its own
        # and samples the model's whole distribution (REDRAW_SAMPLING): the truncated one
        # often holds nothing but the unchanged code.
        redraw = ("redraw", self._draw) if self._draw else ()
        sampling = SamplingParams(**{**vars(self.config.sampling), **(REDRAW_SAMPLING if self._draw else {}),
                                     "seed": derive_seed(self.config.seed, self.student_id, traj.problem_id, index,
                                                         *redraw)})
        assert self.problem is not None
        return build_request(self.template, self.problem, self.persona, traj.attempts,
                             index=index, max_attempts=self._max_attempts, hint=extra_feedback,
                             settings=self.config.prompt, sampling=sampling,
                             adapter=self.config.adapter_name or self.config.adapter,
                             prime_signature=self.config.prime_signature)

    def parse(self, completion: Completion) -> tuple[str, bool]:
        """(code, submitted) from a completion; see :func:`extract_code`."""
        return extract_code(completion.text)

    def record(self, request: GenerationRequest, completion: Optional[Completion],
               grade: Optional[GradeResult], code: str = "", submitted: bool = False,
               error: Optional[str] = None) -> Optional[Attempt]:
        """Second half of a step: store the graded attempt (or the backend failure)."""
        traj = self.trajectory
        if completion is None or error is not None:
            traj.stop_reason = "error"
            traj.meta["error"] = error or "backend returned no completion"
            return None
        index = len(traj.attempts)
        previous = traj.attempts[-1].timestamp if traj.attempts else None
        rng = random.Random(derive_seed(self.config.seed, self.student_id, traj.problem_id, index, "time"))
        attempt = Attempt(
            index=index, code=code, completion=completion.text, grade=grade, submitted=submitted,
            timestamp=self.gaps.timestamp_after(previous, rng, self.config.start_time),
            hint=self._pending_hint,
            prompt=render_request(request) if self.config.save_prompts else None,
            finish_reason=finish_reason(completion, submitted),
            completion_tokens=completion.completion_tokens,
            sampling={**sampling_settings(request, completion), **({"redraws": self._draw} if self._draw else {})},
        )
        traj.attempts.append(attempt)
        self._pending_hint = None
        traj.stop_reason = stop_reason_for(traj.attempts, self._max_attempts, self.config)
        return attempt

    def next_attempt(self, extra_feedback: Optional[str] = None) -> Attempt:
        """Make, grade and record one attempt. ``extra_feedback`` (e.g. a tutor's hint)
        is shown in the prompt for this attempt only and stored on it.

        On a backend failure the trajectory stops with ``"error"`` and this raises
        ``RuntimeError``.
        """
        from simstudent.agent.step import run_step

        try:
            attempt = run_step([self], self.backend, self.grader, [extra_feedback])[0]
        except Exception as exc:  # any backend failure ends the trajectory, recorded
            if not self.done:
                self.record(self.prepare(extra_feedback), None, None, error=f"{type(exc).__name__}: {exc}")
            raise BackendError(f"backend failed: {exc}") from exc
        if attempt is None:
            raise BackendError(f"backend failed: {self.trajectory.meta.get('error')}")
        return attempt


def finish_reason(completion: Completion, submitted: bool) -> str:
    """The attempt's finish reason: "length" when the token limit or the loop cut
    (``SamplingParams.stop_repeats``; the backend says which in its settings) ended it
    (even if a ``<SUBMIT>`` came before the cut), else "submit" or "stop"."""
    if completion.finish_reason == "length":
        return "length"
    return "submit" if submitted else "stop"


def sampling_settings(request: GenerationRequest, completion: Completion) -> dict[str, Any]:
    """The sampling settings an attempt ran with: what the backend reports it used
    (``Completion.settings``) when it does, else what the request asked for."""
    reported = getattr(completion, "settings", None)
    if reported:
        return dict(reported)
    return {k: v for k, v in asdict(request.sampling).items() if v is not None}


def render_request(request: GenerationRequest) -> str:
    """A request as one readable string (chat turns as 'role: content')."""
    primed = f"\n\n[assistant, primed]\n{request.assistant_prefix}" if request.assistant_prefix else ""
    if request.prompt is not None:
        return request.prompt + (request.assistant_prefix or "")
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in request.messages or []) + primed
