"""Prompt templates: the seed paper's (Fig. 5 fine-tune, Fig. 6 prompting) and a
the feedback-aware templates for the closed loop (rendered by simstudent.loop_prompts), plus
completion parsing.

Every template has a name in :data:`TEMPLATES`:

- ``ft-exp1``, ``ft-exp1-ctx``, ``ft-exp2``, ``ft-exp2-ctx``: raw-text prompts for base
  and fine-tuned models (Fig. 5). The prompt is followed directly by the completion.
- ``chat-exp1``, ``chat-exp1-ctx``, ``chat-exp2``, ``chat-exp2-ctx``: chat messages for
  instruct models (Fig. 6) with the paper's system prompt.
- ``ft-loop``, ``chat-loop``: the closed loop; each earlier attempt is followed by the
  grader's feedback (and a hint, when one was given). Plain text, no markup.
- ``ft-loop-solution``, ``chat-loop-solution``: the same, plus the problem's reference
  solution marked as the instructor's solution that the student has not seen.

The exp1/exp2 templates use the paper's plain-text layout: ``LABEL: content``
sections separated by blank lines, the paper's wording, exp1 stage words ``first`` /
``mid-point`` / ``final``, instruction bullets as ``* ...`` lines, no markup (HTML in
problem instructions is converted to plain text). The earlier layouts stay available
by name with a ``-v1`` suffix (``ft-exp2-ctx-v1``: label and content on separate
lines; ``chat-exp2-ctx-v1``: ``<p>``/``<ul>`` markup as in the paper's PDF text, stage
words first / middle / last); adapters trained on them record that name.

Layout decisions the paper leaves open (documented in docs/models.md):

- In ``-v1`` and loop fine-tune prompts each section label sits on its own line, its
  content on the next. Every fine-tune prompt ends with a newline, so the completion
  starts at ``<code>``.
- Attempt lists (SUBMISSIONS, PAST PROBLEM SUBMISSIONS) are numbered from 1, oldest
  first, one per line: ``1. <code>...</code>``; a missing attempt is ``1. None``; an
  empty list is the single word ``None``.
- The completion is ``<code>{code}</code>``, followed by ``<SUBMIT>`` when the target is
  the last attempt of its stream, for exp2 and loop templates only (the paper's exp1
  templates never mention ``<SUBMIT>``). The trainer appends the tokenizer's EOS.
- ``\\r\\n`` line endings in code are normalised to ``\\n``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

from simstudent.schema import Example, Problem
from simstudent.errors import ConfigError, InputError, NotFoundError

SYSTEM_PROMPT = (
    "You are a helpful assistant simulating a student in an introduction to Python "
    "programming course working on a homework problem."
)
SUBMIT_TOKEN = "<SUBMIT>"
CODE_OPEN, CODE_CLOSE = "<code>", "</code>"

# A base model that is not fine-tuned tends to start a new prompt after its answer.
_FT_STOPS = ("\nPROBLEM INSTRUCTIONS:", "\nPAST PROBLEM SUBMISSIONS:")


@dataclass(frozen=True)
class Template:
    """A named prompt layout."""

    name: str
    kind: Literal["ft", "chat"]
    exp: Literal["exp1", "exp2", "loop"]
    context: Optional[bool]  # None: context optional (loop templates)
    stop: tuple[str, ...] = ()
    layout: Literal["paper", "v1"] = "v1"  # paper: plain text, blank-line sections (exp1/exp2 default)
    solution: bool = False  # loop templates: shows the instructor's reference solution

    @property
    def marks_submit(self) -> bool:
        """Whether completions of this template end with ``<SUBMIT>`` on a final attempt."""
        return self.exp != "exp1"


TEMPLATES: dict[str, Template] = {}
for _kind in ("ft", "chat"):
    for _exp in ("exp1", "exp2"):
        for _ctx in (False, True):
            _name = f"{_kind}-{_exp}" + ("-ctx" if _ctx else "")
            _stops = _FT_STOPS if _kind == "ft" else ()
            TEMPLATES[_name] = Template(_name, _kind, _exp, _ctx, _stops, "paper")  # type: ignore[arg-type]
            TEMPLATES[_name + "-v1"] = Template(_name + "-v1", _kind, _exp, _ctx, _stops, "v1")  # type: ignore[arg-type]
    for _sol in (False, True):
        _name = f"{_kind}-loop" + ("-solution" if _sol else "")
        TEMPLATES[_name] = Template(_name, _kind, "loop", None, _FT_STOPS if _kind == "ft" else (), solution=_sol)


def get_template(name: str) -> Template:
    """The template called ``name``; a clear error lists the known ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise NotFoundError(f"unknown prompt template {name!r}; known: {', '.join(TEMPLATES)}") from None


def template_name(exp: str, context: bool, kind: str = "ft", layout: str = "paper") -> str:
    """The paper template for an experiment, e.g. ``template_name("exp2", True) == "ft-exp2-ctx"``;
    ``layout="v1"`` names the earlier layout (loop templates have only one)."""
    suffix = "-v1" if layout == "v1" and exp != "loop" else ""
    return get_template(f"{kind}-{exp}" + ("-ctx" if context else "") + suffix).name


def layout_of(name: str) -> str:
    """The layout (``paper`` or ``v1``) of a named template."""
    return get_template(name).layout


@dataclass
class RenderedPrompt:
    """A rendered prompt: ``prompt`` (ft templates) or ``messages`` (chat templates),
    plus the target ``completion`` when rendered from an Example."""

    template: str
    prompt: Optional[str] = None
    messages: Optional[list[dict[str, str]]] = None
    completion: Optional[str] = None
    stop: list[str] = field(default_factory=list)

    def to_request(self, sampling: Any = None, adapter: Optional[str] = None) -> Any:
        """A :class:`simstudent.models.base.GenerationRequest` for this prompt."""
        from simstudent.models.base import GenerationRequest, SamplingParams

        return GenerationRequest(
            prompt=self.prompt,
            messages=self.messages,
            sampling=sampling or SamplingParams(),
            stop=list(self.stop),
            adapter=adapter,
        )


# ----------------------------------------------------------------------------- pieces


def _norm(code: str) -> str:
    return code.replace("\r\n", "\n").replace("\r", "\n")


def _wrap(code: str) -> str:
    return f"{CODE_OPEN}{_norm(code)}{CODE_CLOSE}"


def format_attempts(codes: Sequence[Optional[str]]) -> str:
    """Numbered attempt list: ``1. <code>...</code>`` per line, ``N. None`` for a
    missing attempt, ``None`` for an empty list."""
    if not codes:
        return "None"
    return "\n".join(f"{i}. {'None' if c is None else _wrap(c)}" for i, c in enumerate(codes, 1))


def format_completion(code: str, submitted: bool = False) -> str:
    """The completion a model is trained to produce: ``<code>..</code>[<SUBMIT>]``."""
    return _wrap(code) + (SUBMIT_TOKEN if submitted else "")


def _ft_problem(problem: Problem) -> list[str]:
    return [
        "PROBLEM INSTRUCTIONS:",
        _norm(problem.instructions),
        "FIXED CODE:",
        _wrap(problem.fixed_code),
        "TODO CODE:",
        _wrap(problem.skeleton_code),
    ]


_DEF = re.compile(r"^(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(.*$", re.M)


def main_signature(problem: Problem) -> Optional[str]:
    """The first line of the main function's ``def`` in the skeleton (e.g.
    ``def count_stairs(n):``): ``problem.function_name``'s, else the first top-level
    ``def``; None when the skeleton has none."""
    defs = list(_DEF.finditer(_norm(problem.skeleton_code)))
    for m in defs:
        if problem.function_name and m.group(1) == problem.function_name:
            return m.group(0).rstrip()
    return defs[0].group(0).rstrip() if defs else None


def main_function_name(problem: Problem) -> Optional[str]:
    """The function the student writes: ``problem.function_name``, else the skeleton's
    first top-level function."""
    if problem.function_name:
        return problem.function_name
    m = _DEF.search(_norm(problem.skeleton_code))
    return m.group(1) if m else None


def _chat_problem(problem: Problem) -> list[str]:
    return [
        f"<p>PROBLEM INSTRUCTIONS: {_norm(problem.instructions)}</p>",
        f"<p>FIXED CODE: {_wrap(problem.fixed_code)}</p>",
        f"<p>TODO CODE: {_wrap(problem.skeleton_code)}</p>",
    ]


_ONLY_TODO = "You may only implement functions and classes in the TODO CODE. Do not include docstrings."
_FIXED = (
    "FIXED CODE (if any) is provided for you. Do not modify or include it in your attempt. "
    "Do not include any other code."
)
_WRAP = "Wrap the generated code in <code> and </code> tags so that it can be easily extracted."
_PRIOR = (
    "You are provided with the student's previous attempts for the current problem "
    "(SUBMISSIONS SO FAR). Use that progress for generating the student's next attempt."
)
_ALL_NONE = "If all previous attempts are None, generate a first attempt."
_SUBMIT = (
    "If the generated next attempt is the student's final attempt, append \"<SUBMIT>\" "
    "to the end of your attempt."
)
_ROLE = "You are simulating a student taking an introduction to Python programming course."


def _bullets(items: Sequence[str]) -> list[str]:
    return ['<ul style="list-style-type: none">', *(f"* {i}" for i in items), "</ul>"]


def _instruction_parts(exp: str, context: bool, stage: str = "") -> tuple[str, list[str]]:
    """Fig. 6's instruction sentence and bullets (the wording both layouts share)."""
    if exp == "exp1":
        head = f"Generate the student's {stage} attempt at the TODO CODE of the current problem."
        items = [_ONLY_TODO, _FIXED]
        if context:
            items.append(
                f"You are also provided with the student's {stage} attempt for a past problem "
                f"from a past homework. Use it as a reference to predict the student's {stage} "
                "attempt for the current problem."
            )
        return head, [*items, _WRAP]
    how = "based on the" if context else "conditioned on their"
    head = f"Generate the student's next attempt at the TODO CODE of the current problem {how} SUBMISSIONS SO FAR."
    # The paper orders these two bullets differently with and without context.
    items = [_ONLY_TODO, _FIXED, _PRIOR] + ([_SUBMIT, _ALL_NONE] if context else [_ALL_NONE, _SUBMIT])
    if context:
        items.append(
            "You are also provided with the student's previous attempts for a past problem "
            "from a past homework. Use it as a reference to predict the student's next "
            "attempt for the current problem."
        )
    return head, [*items, _WRAP]


def _chat_instructions(exp: str, context: bool, stage: str = "") -> list[str]:
    """Fig. 6's instructions in the v1 layout (HTML paragraph and list)."""
    head, items = _instruction_parts(exp, context, stage)
    return [f"<p>{_ROLE} {head}</p>", *_bullets(items)]


STAGE_WORDS = {"first": "first", "middle": "mid-point", "last": "final"}  # the paper's exp1 wording
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<\s*(?:br|/p|/li|/ul|/ol|/div|/h\d)\s*/?\s*>", re.I)
_ITEM = re.compile(r"<\s*li[^>]*>", re.I)


def plain_text(text: str) -> str:
    """Problem text without HTML markup: line breaks where blocks end, list items as
    ``* `` lines, other tags dropped, entities unescaped, blank lines and trailing
    spaces dropped. Text without markup is returned as is (stripped)."""
    import html

    text = _norm(text)
    if "<" not in text and "&" not in text:
        return text.strip()
    text = _ITEM.sub("\n* ", _BREAK.sub("\n", text))
    text = html.unescape(_TAG.sub("", text))
    # Block ends became line breaks; in markup, blank lines carry no meaning.
    return "\n".join(line.rstrip() for line in text.split("\n") if line.strip())


def _paper_instructions(exp: str, context: bool, stage: str) -> str:
    """Fig. 6's instruction paragraph and bullets as plain text."""
    head, items = _instruction_parts(exp, context, stage)
    return f"{_ROLE} {head}\n\n" + "\n".join(f"* {i}" for i in items)


def _render_paper(tpl: Template, problem: Problem, *, attempts_text: Optional[str],
                  context: Optional[Sequence[Optional[str]]], stage: str = "") -> RenderedPrompt:
    """The paper's plain-text layout (Fig. 5 / Fig. 6): ``LABEL: content`` sections
    separated by blank lines."""
    word = STAGE_WORDS.get(stage, stage)
    sections: list[str] = []
    if context is not None:
        sections.append(f"PAST PROBLEM SUBMISSIONS: {format_attempts(context)}")
    sections += [
        f"PROBLEM INSTRUCTIONS: {plain_text(problem.instructions)}",
        f"FIXED CODE: {_wrap(problem.fixed_code)}",
        f"TODO CODE: {_wrap(problem.skeleton_code)}",
    ]
    if tpl.kind == "ft":
        sections.append(f"{word}:" if attempts_text is None else f"SUBMISSIONS: {attempts_text}")
        return RenderedPrompt(tpl.name, prompt="\n\n".join(sections) + "\n", stop=list(tpl.stop))
    if attempts_text is not None:
        sections.append(f"SUBMISSIONS SO FAR: {attempts_text}")
    sections.append(_paper_instructions(tpl.exp, context is not None, word))
    return RenderedPrompt(tpl.name, messages=_chat("\n\n".join(sections)), stop=list(tpl.stop))


def _chat(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def _render(
    tpl: Template,
    problem: Problem,
    *,
    attempts_text: Optional[str],
    context: Optional[Sequence[Optional[str]]],
    stage: str = "",
) -> RenderedPrompt:
    """Assemble one prompt; ``attempts_text`` is None for exp1, ``context`` None when
    the template shows no past-problem submissions."""
    if tpl.layout == "paper":
        return _render_paper(tpl, problem, attempts_text=attempts_text, context=context, stage=stage)
    if tpl.kind == "ft":
        lines: list[str] = []
        if context is not None:
            lines += ["PAST PROBLEM SUBMISSIONS:", format_attempts(context)]
        lines += _ft_problem(problem)
        lines += [f"{stage}:"] if attempts_text is None else ["SUBMISSIONS:", attempts_text]
        return RenderedPrompt(tpl.name, prompt="\n".join(lines) + "\n", stop=list(tpl.stop))
    parts: list[str] = []
    if context is not None:
        parts.append(f"<p>PAST PROBLEM SUBMISSIONS:\n{format_attempts(context)}</p>")
    problem_parts = _chat_problem(problem)
    exp = "exp1" if attempts_text is None else tpl.exp
    parts += problem_parts
    if attempts_text is not None:
        parts.append(f"<p>SUBMISSIONS SO FAR:\n{attempts_text}</p>")
    parts += _chat_instructions(exp, context is not None, stage)
    return RenderedPrompt(tpl.name, messages=_chat("\n".join(parts)), stop=list(tpl.stop))


# ----------------------------------------------------------------------------- public


def render_example(example: Example, problem: Problem, template: Optional[str] = None) -> RenderedPrompt:
    """Render a paper Example (exp1 or exp2) with its problem; the result carries the
    target completion. ``template`` defaults to the ft template matching the example
    (context when ``example.context_problem_id`` is set)."""
    if problem.id != example.problem_id:
        raise ConfigError(f"example {example.key} is about {example.problem_id!r}, got problem {problem.id!r}")
    tpl = get_template(template or template_name(example.exp, example.context_problem_id is not None))
    if tpl.exp != example.exp:
        raise ConfigError(f"template {tpl.name!r} is for {tpl.exp}, example {example.key} is {example.exp}")
    context = list(example.context) if tpl.context else None
    if example.exp == "exp1":
        if example.stage is None:
            raise InputError(f"exp1 example {example.key} has no stage")
        out = _render(tpl, problem, attempts_text=None, context=context, stage=example.stage)
    else:
        out = _render(tpl, problem, attempts_text=format_attempts(example.prior), context=context)
    out.completion = format_completion(example.target, example.is_final and tpl.marks_submit)
    return out


def render_ft(example: Example, problem: Problem, template: Optional[str] = None) -> tuple[str, str]:
    """(prompt, completion) of an Example in a fine-tune template."""
    r = render_example(example, problem, template)
    if r.prompt is None:
        raise ConfigError(f"template {r.template!r} is a chat template; use render_chat")
    return r.prompt, r.completion or ""


def render_chat(example: Example, problem: Problem, context: Optional[bool] = None) -> list[dict[str, str]]:
    """Chat messages (system + user) of an Example in the paper's prompting format."""
    ctx = example.context_problem_id is not None if context is None else context
    r = render_example(example, problem, template_name(example.exp, ctx, kind="chat"))
    return r.messages or []


_FENCE = re.compile(r"```[ \t]*[\w+-]*[ \t]*\n(.*?)(?:```|\Z)", re.S)


def _trim_blank_lines(code: str) -> str:
    code = re.sub(r"\A(?:[ \t]*\n)+", "", code)
    return re.sub(r"(?:\n[ \t]*)+\Z", "", code).rstrip("\n")


def parse_completion(text: str) -> tuple[str, bool]:
    """(code, submitted) from a model's output.

    The code is the first ``<code>...</code>`` block (a missing ``</code>`` runs to
    ``<SUBMIT>`` or the end); failing that the first markdown fence (a missing closing
    fence runs to the end); failing that the whole text. A fence inside the code block
    is unwrapped. ``<SUBMIT>`` anywhere marks the attempt as submitted and is removed
    from the code. Blank lines at either end of the code are dropped.
    """
    text = _norm(text)
    submitted = SUBMIT_TOKEN in text
    start = text.find(CODE_OPEN)
    if start >= 0:
        body = text[start + len(CODE_OPEN):]
        end = body.find(CODE_CLOSE)
        if end < 0:
            end = body.find(SUBMIT_TOKEN)
        code = body if end < 0 else body[:end]
        fence = _FENCE.search(code)
        if fence and not code[: fence.start()].strip():
            code = fence.group(1)
    else:
        fence = _FENCE.search(text)
        code = fence.group(1) if fence else text
    return _trim_blank_lines(code.replace(SUBMIT_TOKEN, "")), submitted
