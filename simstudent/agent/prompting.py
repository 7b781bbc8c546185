"""What the simulated student sees at each step, as a generation request.

The layout itself lives in :mod:`simstudent.prompts`; this module decides *which*
template and *what* goes into it:

- **Template.** An explicit ``StudentConfig.template`` wins. Otherwise an adapter's
  ``simstudent.json`` names the template it was trained with (and its ``k``), and the
  loop uses that one: with the paper's exp2 templates the model sees its last k
  attempts as "SUBMISSIONS SO FAR" and no feedback, exactly as in training. Without
  an adapter the feedback-aware loop template is used, in chat form (``chat-loop``,
  for instruct models such as the default SmolLM2-135M-Instruct) unless
  ``StudentConfig.chat`` is False (``ft-loop``, raw text for base models).
- **Past-problem context.** The persona's stream on another problem that started
  most recently before its work on this problem (or the latest one, when the persona
  never met this problem); a window of its attempts ending at the same relative
  position as the current attempt (``simstudent.data.examples.relative_index`` with
  the attempt budget as the stream length). exp2-ctx templates get k+1 attempts, as
  in training; loop templates ``PromptSettings.context_attempts`` (kept small so a
  135M model's prompt stays short).
- **Stop strings.** The template's own, plus ``</code>`` followed by a newline, a
  space or ``</p>``, and a closing markdown fence followed by a blank line: they cut
  the chatter an instruct model adds after its code without cutting ``</code><SUBMIT>``.
  :func:`simstudent.prompts.parse_completion` tolerates the missing ``</code>``.
- **Response priming** (``StudentConfig.prime_signature``, on by default; ``chat-loop``
  only, never the paper's ft-*/chat-exp* templates): the answer is made to start with
  ``<code>`` and the first line of the main function's ``def`` from the skeleton, so a
  small instruct model writes the current problem's function instead of copying the
  past problem's code. Only the signature is given - never a body or the solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from simstudent.models.base import GenerationRequest, SamplingParams
from simstudent.prompts import (
    CODE_OPEN,
    Template,
    get_template,
    main_signature,
    parse_completion,
)
from simstudent.loop_prompts import render_loop_prompt
from simstudent.schema import Attempt, Persona, Problem, Stream
from simstudent.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from simstudent.agent.student import StudentConfig

EXTRA_STOPS = ("</code>\n", "</code> ", "</code></p>", "\n```\n\n")


class PromptSettings(BaseModel):
    """What goes into the prompt besides the problem."""

    model_config = ConfigDict(extra="forbid")

    context: bool = True  # show the persona's work on an earlier problem
    context_attempts: int = Field(2, ge=1)  # loop templates: past-problem attempts shown
    history: Optional[int] = Field(None, ge=1)  # loop templates: at most this many recent attempts
    k: Optional[int] = Field(None, ge=1)  # exp2 templates: None = the adapter's k, else 3
    extra_stops: list[str] = Field(default_factory=lambda: list(EXTRA_STOPS))


@dataclass(frozen=True)
class ResolvedTemplate:
    """The template a student uses and the knobs that come with it."""

    template: Template
    k: int = 3
    source: str = "default"  # "config", "adapter:<dir>" or "default"
    history: Optional[int] = None  # loop templates: recent attempts shown (an adapter's training bound)

    @property
    def name(self) -> str:
        return self.template.name

    @property
    def shows_feedback(self) -> bool:
        return self.template.exp == "loop"


def adapter_template(adapter: str) -> tuple[Optional[str], Optional[int], Optional[int]]:
    """(template, k, history) recorded in an adapter folder's ``simstudent.json``; all
    None when ``adapter`` is not a local folder (e.g. a LoRA name a vLLM server knows)."""
    from simstudent.models.adapters import load_adapter_meta, resolve_adapter

    try:
        folder = resolve_adapter(adapter)
    except FileNotFoundError:
        return None, None, None
    meta = load_adapter_meta(folder)  # a folder without simstudent.json is an error: say so
    history = (meta.model_extra or {}).get("history")
    return meta.template, meta.k, history


def solution_variant(tpl: Template) -> Template:
    """The ``*-loop-solution`` twin of a loop template (itself when it has one)."""
    if tpl.exp != "loop":
        raise ConfigError(f"a solution-aware student needs a loop template, not {tpl.name!r} ({tpl.exp})")
    return tpl if tpl.solution else get_template(f"{tpl.name}-solution")


def resolve_template(config: "StudentConfig") -> ResolvedTemplate:
    """Pick the template (see the module docstring)."""
    k = config.prompt.k
    history = None
    if config.template:
        tpl, source = get_template(config.template), "config"
    elif config.adapter and adapter_template(config.adapter)[0]:
        name, meta_k, history = adapter_template(config.adapter)
        tpl, source = get_template(str(name)), f"adapter:{config.adapter}"
        if k is None and meta_k:
            k = int(meta_k)
    else:
        tpl, source = get_template("ft-loop" if config.chat is False else "chat-loop"), "default"
    if getattr(config, "solution_aware", False):
        tpl = solution_variant(tpl)
    if tpl.exp == "exp1":
        raise ConfigError(
            f"template {tpl.name!r} generates single snapshots (exp1); the closed loop needs an "
            "exp2 or loop template (an adapter trained with --exp exp2, or --template chat-loop)")
    return ResolvedTemplate(tpl, k or 3, source, history)


def _start_key(stream: Stream) -> tuple:
    first = min(stream.submissions, key=lambda s: s.order)
    return (first.timestamp is None, first.timestamp or 0, first.order)


def context_stream(persona: Persona, problem_id: str) -> Optional[Stream]:
    """The persona's most recent stream on another problem before this one."""
    others = [s for s in persona.history if s.problem_id != problem_id and s.submissions]
    if not others:
        return None
    own = [s for s in persona.history if s.problem_id == problem_id and s.submissions]
    timed = all(s.submissions[0].timestamp is not None for s in others + own)
    if own and timed:
        start = _start_key(own[0])
        before = [s for s in others if _start_key(s) < start]
        others = before or others
    if timed:
        return max(others, key=_start_key)
    return others[-1]  # hand-written personas list their history oldest first


def context_window(stream: Stream, index: int, budget: int, size: int) -> list[Optional[str]]:
    """``size`` attempts of ``stream`` ending at the relative position of ``index``
    within ``budget`` attempts; None where the window starts before the stream."""
    from simstudent.data.examples import relative_index

    subs = sorted(stream.submissions, key=lambda s: s.order)
    end = relative_index(min(index, budget - 1), budget, len(subs))
    return [subs[i].code if i >= 0 else None for i in range(end - size + 1, end + 1)]


def build_request(template: ResolvedTemplate, problem: Problem, persona: Persona,
                  attempts: Sequence[Attempt], *, index: int, max_attempts: int,
                  hint: Optional[str], settings: PromptSettings, sampling: SamplingParams,
                  adapter: Optional[str], prime_signature: bool = False) -> GenerationRequest:
    """The request for attempt ``index`` (0-based) given the earlier ``attempts``.
    ``prime_signature``: prime the answer with the main signature (chat-loop only)."""
    tpl = template.template
    context: Optional[list[Optional[str]]] = None
    wants_context = settings.context and (tpl.context is not False)
    past = context_stream(persona, problem.id) if wants_context else None
    if tpl.exp == "exp2":
        if tpl.context:  # trained with context: always a k+1 window (all None without one)
            context = (context_window(past, index, max_attempts, template.k + 1) if past
                       else [None] * (template.k + 1))
    elif past is not None:
        context = [c for c in context_window(past, index, max_attempts, settings.context_attempts)
                   if c is not None]
    shown = list(attempts)
    history = settings.history if settings.history is not None else template.history
    if tpl.exp == "loop" and history is not None:
        shown = shown[-history:]
    rendered = render_loop_prompt(problem, shown, context, tpl.name, hint=hint, k=template.k,
                                  solution=problem.reference_solution)
    if hint and tpl.exp == "exp2":
        # The paper's templates have no place for feedback; a tutor's hint is still
        # shown (appended) so the tutor can act, at the cost of a prompt unlike training.
        if rendered.prompt is not None:
            rendered.prompt = rendered.prompt.rstrip("\n") + f"\nHINT: {hint.strip()}\n"
        elif rendered.messages:
            rendered.messages[-1]["content"] += f"\n<p>HINT: {hint.strip()}</p>"
    request = rendered.to_request(sampling=sampling, adapter=adapter)
    request.stop = list(dict.fromkeys([*request.stop, *settings.extra_stops]))
    if prime_signature and tpl.kind == "chat" and tpl.exp == "loop":
        signature = main_signature(problem)
        if signature:
            request.assistant_prefix = f"{CODE_OPEN}\n{signature}"
    return request


def extract_code(text: str) -> tuple[str, bool]:
    """(code, submitted) from a completion, honestly: the ``<code>`` block, else a
    markdown fence, else the whole text (prose then grades as a compile error).
    Never substitutes the skeleton or anything the model did not write."""
    return parse_completion(text)
