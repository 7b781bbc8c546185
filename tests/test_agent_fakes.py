"""Scripted stand-ins for a language model, used by the agent and cohort tests.

These are fakes of the *model* only (it cannot be made to emit a chosen sequence
of attempts); the grader, problems and personas in those tests are the real ones.
This module holds no tests of its own.

- :class:`ScriptedBackend` returns given completions (texts or Completion objects) in
  order and keeps the requests.
- :class:`HashBackend` answers each request with a completion that depends only on the
  request (its prompt text and sampling seed), like a seeded sampler whose draws are
  independent of batching; the CLI can load it with
  ``--backend test_agent_fakes:HashBackend`` (tests put this folder on PYTHONPATH).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import Sequence

from simstudent.models.base import Completion, GenerationRequest


class ScriptedBackend:
    """Replays ``script`` (one completion text per request, in order)."""

    name = "scripted"

    def __init__(self, script: Sequence[str]) -> None:
        self.script = list(script)
        self.requests: list[GenerationRequest] = []
        self.calls: list[int] = []  # batch size of each generate() call

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(len(requests))
        out = []
        for req in requests:
            self.requests.append(req)
            if not self.script:
                raise RuntimeError("script exhausted")
            item = self.script.pop(0)
            out.append(item if isinstance(item, Completion) else Completion(text=item))
        return out


def _request_text(req: GenerationRequest) -> str:
    if req.prompt is not None:
        return req.prompt
    return "\n".join(m["content"] for m in req.messages or [])


class HashBackend:
    """Deterministic per request: code for the TODO function whose body is chosen by a
    hash of (prompt, seed); about one attempt in six ends with ``<SUBMIT>``.

    ``delay_s`` (constructor or env ``HASH_BACKEND_DELAY``) sleeps per call so a test
    can kill the process mid-run.
    """

    name = "hash"
    BODIES = ("return 0", "return n", "return 1", "print(n)", "return n +", "return count_stairs(n - 1)")

    def __init__(self, model: str = "hash", delay_s: float | None = None, submit: bool | None = None,
                 **_: object) -> None:
        self.model = model
        self.delay_s = float(os.environ.get("HASH_BACKEND_DELAY", "0")) if delay_s is None else delay_s
        # HASH_BACKEND_NO_SUBMIT=1: never submit (a test that must interrupt a long run)
        self.submit = (os.environ.get("HASH_BACKEND_NO_SUBMIT") != "1") if submit is None else submit
        self.calls: list[int] = []

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.calls.append(len(requests))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for req in requests:
            text = _request_text(req)
            digest = hashlib.sha256(f"{req.sampling.seed}|{text}".encode()).digest()
            match = re.search(r"TODO CODE:\s*<code>\s*def (\w+)\(([^)]*)\)", text)
            name, args = (match.group(1), match.group(2)) if match else ("f", "n")
            body = self.BODIES[digest[0] % len(self.BODIES)]
            submit = "<SUBMIT>" if self.submit and digest[1] % 6 == 0 else ""
            out.append(Completion(text=f"<code>def {name}({args}):\n    {body}\n</code>{submit}",
                                  completion_tokens=12))
        return out


class LoopingBackend:
    """What the untuned default model does: the signature, then the docstring over and
    over until the token limit cuts it (``finish_reason="length"``)."""

    name = "looping"

    def __init__(self, model: str = "looping", **_: object) -> None:
        self.model = model

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        out = []
        for req in requests:
            text = _request_text(req)
            match = re.search(r"TODO CODE:\s*<code>\s*def (\w+)\(([^)]*)\)", text)
            name, args = (match.group(1), match.group(2)) if match else ("f", "n")
            body = '    """Return the answer."""\n' * 6 + '    """Return the'
            out.append(Completion(text=f"<code>def {name}({args}):\n{body}", finish_reason="length",
                                  completion_tokens=req.sampling.max_new_tokens))
        return out


class FailingBackend:
    """Loads, then fails on the first generate call (a server that is down)."""

    name = "failing"

    def __init__(self, model: str = "failing", **_: object) -> None:
        self.model = model

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        from simstudent.models.errors import BackendError

        raise BackendError("connection refused (test backend)")
