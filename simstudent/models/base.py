"""The Backend protocol: one batched interface over every way to sample a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Sequence, runtime_checkable


@dataclass
class SamplingParams:
    """Sampling settings; the defaults are the seed paper's (appendix B)."""

    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    min_p: float = 0.0
    max_new_tokens: int = 512
    seed: Optional[int] = None
    min_new_tokens: int = 0  # forces at least this many tokens (benchmarks); 0 = off
    # Cut a completion whose last line or block of lines repeats this many times in a row
    # (degenerate text that would run to the budget); it finishes as truncated
    # (``Completion.finish_reason == "length"``, ``settings["cut"] == "repetition"``).
    # 0 = off. Only the hf backend's loop decoder applies it (others record 0).
    stop_repeats: int = 0


@dataclass
class GenerationRequest:
    """One prompt to complete. Exactly one of ``prompt`` (raw text, for base or
    fine-tuned models) or ``messages`` (chat, for instruct models) is set."""

    prompt: Optional[str] = None
    messages: Optional[list[dict[str, str]]] = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    stop: list[str] = field(default_factory=list)
    # End markers: generation ends right after one of these, which stays in the text
    # (e.g. "<SUBMIT>": nothing after it matters). ``stop`` strings are cut off instead.
    stop_after: list[str] = field(default_factory=list)
    adapter: Optional[str] = None  # a name the backend knows, or an adapter directory
    # Response priming: text the answer is forced to start with (e.g. "<code>\ndef f(n):").
    # Backends that honour it return ``assistant_prefix + generated text`` as the
    # completion, so parsing sees the whole answer. See each backend for support.
    assistant_prefix: Optional[str] = None
    # Facts about the request that model-free baselines read (e.g. copy-previous reads
    # "previous", "skeleton", "final", "exp"); models ignore it.
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("GenerationRequest needs exactly one of prompt or messages")


@dataclass
class Completion:
    """One request's answer.

    ``finish_reason``: ``"stop"`` (EOS, a stop string or an end marker), ``"length"``
    (the token budget ran out: the text is truncated) or ``"error"``. ``settings``: what
    it ran with (backend, decoder, dtype, seed, budget, stops, sampling), a small
    JSON-ready dict the caller can store beside the result.
    """

    text: str
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: Optional[str] = None  # why, when finish_reason == "error"
    settings: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """Anything that turns a batch of requests into completions, in order."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        ...


def truncate_at_stop(text: str, stops: Sequence[str]) -> tuple[str, Optional[str]]:
    """``text`` cut before the earliest stop string, and which one matched."""
    best, hit = len(text), None
    for s in stops:
        i = text.find(s) if s else -1
        if 0 <= i < best:
            best, hit = i, s
    return text[:best], hit


def cut_after(text: str, markers: Sequence[str]) -> tuple[str, Optional[str]]:
    """``text`` cut right after the earliest end marker, and which one matched."""
    best, hit = None, None
    for m in markers:
        i = text.find(m) if m else -1
        if i >= 0 and (best is None or i < best):
            best, hit = i, m
    if hit is None:
        return text, None
    return text[: best + len(hit)], hit  # type: ignore[operator]
