"""The ``openai`` backend: any OpenAI-compatible server (OpenAI itself, a vLLM server,
a load balancer in front of many).

Prompt requests use the completions API (base and fine-tuned models), chat requests
the chat API (instruct models). A request's ``adapter`` is sent as the model name,
which is how a vLLM server started with ``--enable-lora --lora-modules name=path``
serves adapters. Requests run concurrently (at most ``concurrency`` in flight);
429 (rate limit), 5xx, timeouts and connection errors are retried with exponential
backoff; 401/403, 404 and 429 ``insufficient_quota`` fail at once with a clear error.

Several servers: ``base_url`` may name several, comma-separated (or a list). Requests
go to them in turn (round-robin), and a retried request goes to the next one, so one
server that is down or overloaded slows a cohort down but does not stop it.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

from simstudent.models.base import Completion, GenerationRequest, cut_after, truncate_at_stop
from simstudent.models.errors import AuthError, BackendError, ModelNotFoundError, QuotaError


@dataclass
class OpenAIConfig:
    """Connection and retry settings. ``api_key`` falls back to the ``OPENAI_API_KEY``
    environment variable (the one place simstudent reads it), then to ``"EMPTY"``
    (what local vLLM servers accept)."""

    model: str
    # None: api.openai.com; several servers: "http://a:8000/v1,http://b:8000/v1" or a list
    base_url: Optional[Union[str, Sequence[str]]] = None
    api_key: Optional[str] = None
    concurrency: int = 8
    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    timeout_s: float = 120.0
    # top_k / min_p are not OpenAI parameters; vLLM servers accept them in the body.
    extended_sampling: bool = False
    on_error: str = "raise"  # "raise" | "completion" (finish_reason="error") after retries
    # A request's ``assistant_prefix`` is always appended to a completions prompt. For
    # chat it is sent as a final, partial assistant message only when this is on (vLLM's
    # ``continue_final_message``); otherwise chat requests ignore the prefix, since the
    # OpenAI API would treat it as a finished turn.
    supports_assistant_prefill: bool = False

    def resolved_key(self) -> str:
        return self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"

    def urls(self) -> list[Optional[str]]:
        """The servers, in round-robin order ([None] for api.openai.com)."""
        if self.base_url is None:
            return [None]
        parts = self.base_url.split(",") if isinstance(self.base_url, str) else list(self.base_url)
        urls = [u.strip() for u in parts if u and u.strip()]
        if not urls:
            raise ValueError(f"base_url {self.base_url!r} names no server")
        return urls


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: Optional[float] = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIBackend:
    """Async, bounded-concurrency generation against an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(self, model: str, **config: Any) -> None:
        self.config = OpenAIConfig(model=model, **config)
        if self.config.on_error not in ("raise", "completion"):
            raise ValueError("on_error must be 'raise' or 'completion'")
        self.urls = self.config.urls()
        self._turn = 0  # the next request's server (round-robin across generate calls)

    def _client(self, base_url: Optional[str] = None) -> Any:
        from openai import AsyncOpenAI

        # The SDK's own retries are off: this backend retries with its own policy.
        return AsyncOpenAI(
            api_key=self.config.resolved_key(),
            base_url=base_url,
            timeout=self.config.timeout_s,
            max_retries=0,
        )

    # ------------------------------------------------------------------ public

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Completions for ``requests``, in order (blocking wrapper over :meth:`agenerate`)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(requests))
        # Called from inside an event loop: run ours in a helper thread.
        box: dict[str, Any] = {}

        def runner() -> None:
            try:
                box["out"] = asyncio.run(self.agenerate(requests))
            except BaseException as exc:  # re-raised in the caller's thread
                box["err"] = exc

        t = threading.Thread(target=runner)
        t.start()
        t.join()
        if "err" in box:
            raise box["err"]
        return box["out"]

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Completions for ``requests``, in order, at most ``concurrency`` in flight."""
        clients = [self._client(url) for url in self.urls]
        sem = asyncio.Semaphore(max(1, self.config.concurrency))
        first, self._turn = self._turn, self._turn + len(requests)

        async def one(i: int, req: GenerationRequest) -> Completion:
            async with sem:
                return await self._with_retries(clients, first + i, req)

        try:
            return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))
        finally:
            for client in clients:
                await client.close()

    # ------------------------------------------------------------------ internals

    async def _with_retries(self, clients: list[Any], turn: int, req: GenerationRequest) -> Completion:
        cfg = self.config
        attempt = 0
        while True:
            where = (turn + attempt) % len(clients)  # a retry goes to the next server
            try:
                return await self._call(clients[where], req, self.urls[where])
            except _Retryable as exc:
                attempt += 1
                if attempt > cfg.max_retries:
                    msg = f"{self._where(req, self.urls[where])}: giving up after {cfg.max_retries} retries: {exc}"
                    if cfg.on_error == "completion":
                        return Completion(text="", finish_reason="error", error=msg)
                    raise BackendError(msg) from None
                if len(clients) > 1 and attempt < len(clients):
                    continue  # another server has not been tried yet: no backoff
                delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (attempt - 1))
                delay = max(delay * (0.5 + random.random() / 2), exc.retry_after or 0.0)
                await asyncio.sleep(min(delay, cfg.backoff_max_s))

    def _where(self, req: GenerationRequest, url: Optional[str] = None) -> str:
        at = url or (self.urls[0] if len(self.urls) == 1 else None) or "api.openai.com"
        return f"model {req.adapter or self.config.model!r} at {at}"

    def _body(self, req: GenerationRequest) -> dict[str, Any]:
        s = req.sampling
        body: dict[str, Any] = {
            "model": req.adapter or self.config.model,
            "max_tokens": s.max_new_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        if req.stop:
            body["stop"] = list(req.stop)[:4]  # the API takes at most 4; the rest are cut here
        if s.seed is not None:
            body["seed"] = s.seed
        if self.config.extended_sampling:
            extra: dict[str, Any] = {"top_k": s.top_k if s.top_k > 0 else -1, "min_p": s.min_p}
            if s.min_new_tokens:
                extra["min_tokens"] = s.min_new_tokens
            body["extra_body"] = extra
        return body

    async def _call(self, client: Any, req: GenerationRequest, url: Optional[str] = None) -> Completion:
        import openai

        body = self._body(req)
        prefix = req.assistant_prefix or ""
        messages = req.messages
        if req.prompt is None and prefix:
            if self.config.supports_assistant_prefill:
                messages = [*(req.messages or []), {"role": "assistant", "content": prefix}]
                body["extra_body"] = {**body.get("extra_body", {}), "continue_final_message": True,
                                      "add_generation_prompt": False}
            else:
                prefix = ""  # not primed: the completion is the model's text alone
        try:
            if req.prompt is not None:
                resp = await client.completions.create(prompt=req.prompt + prefix, **body)
                choice = resp.choices[0]
                text = choice.text or ""
            else:
                resp = await client.chat.completions.create(messages=messages, **body)
                choice = resp.choices[0]
                text = choice.message.content or ""
        except openai.AuthenticationError as exc:
            raise AuthError(f"{self._where(req, url)}: authentication failed (HTTP 401): check api_key "
                            f"or OPENAI_API_KEY: {_msg(exc)}") from None
        except openai.PermissionDeniedError as exc:
            raise AuthError(f"{self._where(req, url)}: permission denied (HTTP 403): {_msg(exc)}") from None
        except openai.NotFoundError as exc:
            raise ModelNotFoundError(f"{self._where(req, url)}: model not found (HTTP 404): is it served "
                                     f"there (vLLM: --lora-modules for adapters)? {_msg(exc)}") from None
        except openai.RateLimitError as exc:
            if _code(exc) == "insufficient_quota":
                raise QuotaError(f"{self._where(req, url)}: quota exhausted (HTTP 429 insufficient_quota): "
                                 f"{_msg(exc)}") from None
            raise _Retryable(f"rate limited (HTTP 429): {_msg(exc)}", _retry_after(exc)) from None
        except openai.InternalServerError as exc:
            raise _Retryable(f"server error (HTTP {exc.status_code}): {_msg(exc)}", _retry_after(exc)) from None
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise _Retryable(f"connection failed: {exc}") from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise _Retryable(f"server error (HTTP {exc.status_code}): {_msg(exc)}") from None
            raise BackendError(f"{self._where(req, url)}: HTTP {exc.status_code}: {_msg(exc)}") from None
        # The server applied the first 4 stops; apply them all here too.
        text, hit = truncate_at_stop(text, req.stop)
        text, marker = cut_after(text, req.stop_after)  # end markers: cut client-side
        hit = hit or marker
        usage = getattr(resp, "usage", None)
        reason = choice.finish_reason or "stop"
        return Completion(
            text=prefix + text,
            finish_reason="stop" if hit else ("length" if reason == "length" else "stop"),
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            settings={"backend": self.name, "model": req.adapter or self.config.model,
                      "seed": req.sampling.seed, "max_new_tokens": req.sampling.max_new_tokens,
                      "temperature": req.sampling.temperature, "top_p": req.sampling.top_p,
                      "stop": list(req.stop), "stop_after": list(req.stop_after)},
        )


def _payload(exc: Any) -> dict[str, Any]:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        return inner if isinstance(inner, dict) else {}
    return {}


def _code(exc: Any) -> Optional[str]:
    p = _payload(exc)
    return p.get("code") or p.get("type") or getattr(exc, "code", None)


def _msg(exc: Any) -> str:
    return str(_payload(exc).get("message") or getattr(exc, "message", "") or exc)


def _retry_after(exc: Any) -> Optional[float]:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
