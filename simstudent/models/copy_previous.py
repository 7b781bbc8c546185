"""The ``copy-previous`` backend: not a model, exp2's trivial baseline.

The "next attempt" is the previous real attempt unchanged (the problem's skeleton when
there is none), with ``<SUBMIT>`` on a stream's last attempt. Teacher-forced
next-attempt metrics reward small edits; this row shows how far pure copying gets.

It reads what it needs from each request's ``metadata`` (set by the exp2 runner):
``previous`` (the last earlier attempt or None), ``skeleton`` and ``final``. A request
without them (a closed-loop student, an exp1 example) gets an ``error`` completion
that says so.
"""

from __future__ import annotations

from typing import Optional, Sequence

from simstudent.models.base import Completion, GenerationRequest


class CopyPreviousBackend:
    """Answers every exp2 request with the previous attempt (see the module docstring)."""

    name = "copy-previous"

    def __init__(self, model: Optional[str] = None, seed: Optional[int] = None) -> None:
        self.model_name = model  # accepted so every backend builds the same way; unused

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        from simstudent.prompts import format_completion

        out = []
        for req in requests:
            meta = req.metadata
            if meta.get("exp") != "exp2" or "skeleton" not in meta:
                out.append(Completion(text="", finish_reason="error", error=(
                    "copy-previous is an exp2 baseline: it needs the previous attempt "
                    "(exp1 has none; the closed loop does not send it)"), settings={"backend": self.name}))
                continue
            previous = meta.get("previous")
            code = previous if previous is not None else meta["skeleton"]
            out.append(Completion(text=format_completion(code, bool(meta.get("final"))),
                                  settings={"backend": self.name}))
        return out
