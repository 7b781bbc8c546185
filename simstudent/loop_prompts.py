"""The closed-loop prompt: the problem, the student's earlier attempts each followed by
the autograder's feedback (and a tutor's hint), optionally the instructor's solution,
rendered for the ``ft-loop``/``chat-loop`` templates (``*-loop-solution`` variants), or
for an exp2 template as in the paper's format. Both the agent (at inference) and the
training data builder render through :func:`render_loop_prompt`, so they match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

from simstudent.errors import ConfigError, InputError
from simstudent.prompts import (
    _ALL_NONE, _FIXED, _ONLY_TODO, _PRIOR, _ROLE, _SUBMIT, _WRAP, RenderedPrompt, Template, _chat,
    _ft_problem, _norm, _render, _wrap, format_attempts, get_template, main_function_name,
)
from simstudent.schema import Attempt, Problem


@dataclass
class LoopTurn:
    """One earlier attempt in the closed loop, with what the student was told after it."""

    code: Optional[str]
    feedback: str = ""
    hint: Optional[str] = None


TurnLike = Union[LoopTurn, Attempt, tuple, dict]


def _as_turns(attempts: Sequence[TurnLike]) -> list[LoopTurn]:
    """Normalise attempts. A schema.Attempt's ``hint`` was shown *before* it, so it is
    moved onto the previous turn (it answered that attempt)."""
    turns: list[LoopTurn] = []
    for i, a in enumerate(attempts):
        if isinstance(a, LoopTurn):
            turns.append(a)
        elif isinstance(a, Attempt):
            turns.append(LoopTurn(a.code, a.grade.feedback if a.grade else ""))
            if a.hint and i > 0:
                turns[i - 1].hint = a.hint
        elif isinstance(a, tuple):
            turns.append(LoopTurn(*a))
        elif isinstance(a, dict):
            turns.append(LoopTurn(**a))
        else:
            raise TypeError(f"attempt {i}: expected LoopTurn, Attempt, tuple or dict, got {type(a).__name__}")
    return turns


def _format_turns(turns: Sequence[LoopTurn]) -> str:
    if not turns:
        return "None"
    lines: list[str] = []
    for i, t in enumerate(turns, 1):
        lines.append(f"{i}. {'None' if t.code is None else _wrap(t.code)}")
        lines.append(f"FEEDBACK: {_norm(t.feedback).strip() or 'None'}")
        if t.hint:
            lines.append(f"HINT: {_norm(t.hint).strip()}")
    return "\n".join(lines)


def render_loop_prompt(
    problem: Problem,
    attempts_with_feedback: Sequence[TurnLike],
    persona_context: Optional[Sequence[Optional[str]]] = None,
    template: str = "ft-loop",
    *,
    hint: Optional[str] = None,
    k: int = 3,
    solution: Optional[str] = None,
) -> RenderedPrompt:
    """The prompt for the next attempt in the closed loop.

    ``attempts_with_feedback``: earlier attempts, oldest first (``LoopTurn``,
    ``schema.Attempt``, ``(code, feedback[, hint])`` or a dict). ``persona_context``: the
    student's attempts on a past problem (shown as PAST PROBLEM SUBMISSIONS), or None.
    ``hint``: extra feedback given after the latest attempt. ``solution``: the problem's
    reference solution, shown (marked as unseen by the student) by ``*-loop-solution``
    templates, which require it; other templates ignore it.

    With a loop template every attempt is shown, followed by its feedback. With an exp2
    template (for an adapter trained on the paper's format) only the last ``k``
    attempts are shown, padded with None, without feedback - exactly as in training.
    """
    tpl = get_template(template)
    turns = _as_turns(attempts_with_feedback)
    if hint and turns:
        turns[-1] = LoopTurn(turns[-1].code, turns[-1].feedback, hint)
    if tpl.exp == "exp1":
        raise ConfigError(f"template {tpl.name!r} renders single snapshots; use an exp2 or loop template")
    if tpl.exp == "exp2":
        codes = [t.code for t in turns][-k:] if k > 0 else []
        codes = [None] * (k - len(codes)) + codes
        context = (list(persona_context) if persona_context is not None else []) if tpl.context else None
        return _render(tpl, problem, attempts_text=format_attempts(codes), context=context)
    text = _format_turns(turns)
    if hint and not turns:
        text += f"\nHINT: {_norm(hint).strip()}"
    context = list(persona_context) if persona_context is not None else None
    if tpl.solution and not (solution or "").strip():
        raise InputError(f"template {tpl.name!r} shows the reference solution, but problem {problem.id!r} has none "
                         "(add reference_solution to its spec, or use an adapter without one, e.g. --adapter itap-loop)")
    return _render_loop(tpl, problem, text, context, solution if tpl.solution else None)


# simstudent's own wording for the closed loop (not from the paper).
_FEEDBACK = (
    "Each previous attempt is followed by the autograder's FEEDBACK on it, and sometimes "
    "a HINT from a tutor. The student has read them before making the next attempt."
)
_SOLUTION_LABEL = "INSTRUCTOR SOLUTION (the student has not seen it):"
_SOLUTION = (
    "The INSTRUCTOR SOLUTION is a correct answer that the student has not seen. Do not copy it: "
    "use it only to judge where this student's work is heading, and write the attempt this "
    "student would write next."
)
_PAST = (
    "You are also provided with the student's previous attempts for a past problem "
    "from a past homework. Use it as a reference to predict the student's next "
    "attempt for the current problem."
)


def _render_loop(tpl: Template, problem: Problem, turns_text: str, context: Optional[Sequence[Optional[str]]],
                 solution: Optional[str]) -> RenderedPrompt:
    """The closed-loop layouts, plain text.

    ``ft-loop[-solution]``: one label per line, its content on the next (as the ft
    templates), the solution after TODO CODE. ``chat-loop[-solution]``: sections
    separated by blank lines, the instructions as ``* `` bullets, and - because a small
    instruct model copies the nearest code block - the current TODO CODE and a one-line
    ask naming its function last."""
    if tpl.kind == "ft":
        lines: list[str] = []
        if context is not None:
            lines += ["PAST PROBLEM SUBMISSIONS:", format_attempts(context)]
        lines += _ft_problem(problem)
        if solution is not None:
            lines += [_SOLUTION_LABEL, _wrap(solution)]
        lines += ["SUBMISSIONS:", turns_text]
        return RenderedPrompt(tpl.name, prompt="\n".join(lines) + "\n", stop=list(tpl.stop))
    parts: list[str] = []
    if context is not None:
        parts.append(f"PAST PROBLEM SUBMISSIONS:\n{format_attempts(context)}")
    parts += [f"PROBLEM INSTRUCTIONS: {_norm(problem.instructions)}", f"FIXED CODE: {_wrap(problem.fixed_code)}"]
    if solution is not None:
        parts.append(f"{_SOLUTION_LABEL} {_wrap(solution)}")
    parts.append(f"SUBMISSIONS SO FAR:\n{turns_text}")
    how = "based on the" if context is not None else "conditioned on their"
    items = [_ONLY_TODO, _FIXED, _PRIOR, _FEEDBACK]
    items += [_SUBMIT, _ALL_NONE] if context is not None else [_ALL_NONE, _SUBMIT]
    if solution is not None:
        items.append(_SOLUTION)
    if context is not None:
        items.append(_PAST)
    items.append(_WRAP)
    parts.append(f"{_ROLE} Generate the student's next attempt at the TODO CODE of the current problem "
                 f"{how} SUBMISSIONS SO FAR.\n" + "\n".join(f"* {i}" for i in items))
    target = main_function_name(problem) or "the TODO CODE"
    parts += [f"TODO CODE: {_wrap(problem.skeleton_code)}", f"Write the student's next attempt at {target}."]
    return RenderedPrompt(tpl.name, messages=_chat("\n\n".join(parts)), stop=list(tpl.stop))
