"""Degeneration of generated attempts: loops, truncation, the wrong function.

A small instruct model in a closed loop fails in ways no student does: it writes
the same line or block over and over until the token limit cuts it off, or it
answers with some other function. These measures say how often, per attempt:

- **repeats**: the attempt's text contains a block of one or more lines that
  occurs three or more times *in a row* (:func:`repeated_block`). Lines are
  compared after dropping trailing whitespace, and blank lines are skipped, so
  ``"x\\n\\nx\\n\\nx"`` repeats ``x`` three times;
- **truncated**: generation stopped at the token limit (``finish_reason ==
  "length"``); attempts without a recorded finish reason are left out of this
  share and counted in ``finish_reason_known``;
- **defines the function**: the code defines the problem's required function at
  top level (``def name(`` at the start of a line; the code need not compile,
  since a truncated attempt that defines the function still did).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional, Sequence

from pydantic import BaseModel, Field

MIN_REPEATS = 3


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [line.rstrip() for line in text.split("\n") if line.strip()]


def repeated_block(text: str, min_repeats: int = MIN_REPEATS) -> bool:
    """True when some block of consecutive (non-blank) lines occurs ``min_repeats``
    or more times in a row."""
    lines = _lines(text)
    n = len(lines)
    for size in range(1, n // min_repeats + 1):
        for start in range(0, n - size * min_repeats + 1):
            block = lines[start:start + size]
            if all(lines[start + r * size:start + (r + 1) * size] == block for r in range(1, min_repeats)):
                return True
    return False


def repeats_at_end(text: str, min_repeats: int = MIN_REPEATS, max_block: int = 8) -> bool:
    """True when the *complete* lines of ``text`` (the part after the last newline is
    not looked at) end with a block of up to ``max_block`` lines written ``min_repeats``
    or more times in a row - the :func:`repeated_block` test applied to the end of a
    text that is still being generated (the hf decode loop's ``stop_repeats`` cut uses
    it, so every cut attempt also counts under ``repeats``)."""
    cut = text.rfind("\n")
    lines = _lines(text[:cut]) if cut >= 0 else []
    n = len(lines)
    for size in range(1, max_block + 1):
        if size * min_repeats > n:
            break
        block = lines[n - size:]
        if all(lines[n - (r + 1) * size:n - r * size] == block for r in range(1, min_repeats)):
            return True
    return False


def defines_function(code: str, name: str) -> bool:
    """The code defines ``name`` at top level (see the module docstring)."""
    return re.search(rf"^def\s+{re.escape(name)}\s*\(", code.replace("\r\n", "\n"), re.MULTILINE) is not None


class DegenerationReport(BaseModel):
    """Shares of attempts that degenerate (see the module docstring)."""

    attempts: int = Field(description="attempts measured")
    repeats: int = Field(description="attempts with a line or block repeated 3+ times in a row")
    finish_reason_known: int = Field(description="attempts with a recorded finish reason")
    truncated: int = Field(description="attempts cut by the token limit")
    function_known: int = Field(description="attempts whose problem names a required function")
    defines_function: int = Field(description="attempts that define the required function")

    @property
    def repeat_share(self) -> Optional[float]:
        return self.repeats / self.attempts if self.attempts else None

    @property
    def truncated_share(self) -> Optional[float]:
        return self.truncated / self.finish_reason_known if self.finish_reason_known else None

    @property
    def defines_function_share(self) -> Optional[float]:
        return self.defines_function / self.function_known if self.function_known else None

    def shares(self) -> dict[str, Optional[float]]:
        return {"repeats": self.repeat_share, "truncated": self.truncated_share,
                "defines_function": self.defines_function_share}


def degeneration(attempts: Iterable[tuple[str, str, Optional[str], Optional[str]]]) -> DegenerationReport:
    """Measure ``(completion, code, finish_reason, function_name)`` tuples.

    The repeat test reads the raw completion (the model's whole output; the code
    when the completion is empty); the function test reads the parsed code.
    """
    n = rep = known = trunc = fknown = fdef = 0
    for completion, code, finish, fn in attempts:
        n += 1
        rep += repeated_block(completion or code)
        if finish is not None:
            known += 1
            trunc += finish == "length"
        if fn:
            fknown += 1
            fdef += defines_function(code, fn)
    return DegenerationReport(attempts=n, repeats=rep, finish_reason_known=known, truncated=trunc,
                              function_known=fknown, defines_function=fdef)


def trajectory_degeneration(trajectories: Sequence, function_names: Mapping[str, Optional[str]],
                            skip_first: Optional[Mapping[str, int]] = None) -> DegenerationReport:
    """:func:`degeneration` over simulated trajectories (``function_names``: problem id
    -> required function). ``skip_first`` (trajectory problem id -> n) leaves out
    attempts that were not generated, e.g. a rollout's real prefix."""
    rows = []
    for t in trajectories:
        skip = (skip_first or {}).get(t.problem_id, 0)
        for a in t.attempts[skip:]:
            rows.append((a.completion, a.code, a.finish_reason, function_names.get(t.problem_id)))
    return degeneration(rows)
