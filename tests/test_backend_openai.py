"""The openai backend against a small fake OpenAI-compatible server on 127.0.0.1.

The real services cannot be reached from here, so the tests start a local
http.server that speaks the two endpoints (``/v1/completions``,
``/v1/chat/completions``), returns canned completions, and fails on purpose
(401, 404, 429, 5xx) depending on the model name.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytest.importorskip("openai")

from simstudent.models import (  # noqa: E402
    AuthError,
    BackendError,
    GenerationRequest,
    ModelNotFoundError,
    QuotaError,
    SamplingParams,
    get_backend,
)

KEY = "sk-test"


class FakeOpenAI:
    """State shared with the handler: what it saw and how busy it was."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.seen: Counter = Counter()
        self.in_flight = 0
        self.max_in_flight = 0


def make_handler(state: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, message: str, err_code: str, headers: dict[str, str] | None = None) -> None:
            self._send(code, {"error": {"message": message, "type": err_code, "code": err_code}}, headers)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                state.bodies.append(body)
                state.paths.append(self.path)
                key = (body["model"], json.dumps(body.get("prompt") or body.get("messages")))
                state.seen[key] += 1
                n = state.seen[key]
            try:
                time.sleep(0.05)
                self._route(body, n)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _route(self, body: dict[str, Any], n: int) -> None:
            model = body["model"]
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                return self._error(401, "Incorrect API key provided", "invalid_api_key")
            if model == "missing":
                return self._error(404, "The model `missing` does not exist", "model_not_found")
            if model == "quota":
                return self._error(429, "You exceeded your current quota", "insufficient_quota")
            if model == "ratelimited" and n == 1:
                return self._error(429, "Rate limit reached", "rate_limit_exceeded", {"retry-after": "0"})
            if model == "flaky" and n <= 2:
                return self._error(503, "overloaded", "server_error")
            if model == "always500":
                return self._error(500, "boom", "server_error")
            usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
            if self.path.endswith("/chat/completions"):
                text = "chat:" + body["messages"][-1]["content"] + " STOP tail"
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                obj = "chat.completion"
            else:
                text = f"<code>{model}:{body['prompt']}</code> STOP tail"
                reason = "length" if body["max_tokens"] == 1 else "stop"
                choice = {"index": 0, "text": text, "finish_reason": reason, "logprobs": None}
                obj = "text_completion"
            self._send(200, {"id": "x", "object": obj, "created": 0, "model": model,
                             "choices": [choice], "usage": usage})

    return Handler


@pytest.fixture
def server():
    state = FakeOpenAI()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    httpd.shutdown()
    httpd.server_close()


def backend(base_url: str, model: str = "base-model", **cfg: Any):
    cfg.setdefault("api_key", KEY)
    cfg.setdefault("backoff_base_s", 0.01)
    return get_backend("openai", model=model, base_url=base_url, **cfg)


def test_completions_and_chat_in_order(server) -> None:
    url, state = server
    be = backend(url, extended_sampling=True)
    reqs = [
        GenerationRequest(prompt="p0", sampling=SamplingParams(seed=5, max_new_tokens=32), stop=[" STOP"]),
        GenerationRequest(messages=[{"role": "user", "content": "hello"}], stop=[" STOP"]),
        GenerationRequest(prompt="p2", adapter="my-lora", sampling=SamplingParams(max_new_tokens=1)),
    ]
    out = be.generate(reqs)
    assert [c.text for c in out] == ["<code>base-model:p0</code>", "chat:hello", "<code>my-lora:p2</code> STOP tail"]
    assert [c.finish_reason for c in out] == ["stop", "stop", "length"]
    assert out[0].prompt_tokens == 5 and out[0].completion_tokens == 7
    by_prompt = {json.dumps(b.get("prompt") or b.get("messages")): b for b in state.bodies}
    b0 = by_prompt['"p0"']
    assert (b0["temperature"], b0["top_p"], b0["max_tokens"], b0["seed"], b0["stop"]) == (0.7, 0.8, 32, 5, [" STOP"])
    assert (b0["top_k"], b0["min_p"]) == (20, 0.0)  # extended_sampling: sent in the body for vLLM servers
    assert by_prompt['"p2"']["model"] == "my-lora"  # an adapter is served under its own name
    assert sorted(state.paths) == ["/v1/chat/completions", "/v1/completions", "/v1/completions"]


def test_plain_openai_body_has_no_vllm_fields(server) -> None:
    url, state = server
    backend(url).generate([GenerationRequest(prompt="x", stop=["a", "b", "c", "d", "e"])])
    assert "top_k" not in state.bodies[0] and "min_p" not in state.bodies[0]
    assert state.bodies[0]["stop"] == ["a", "b", "c", "d"]  # the API's limit; "e" is applied client-side


def test_bounded_concurrency(server) -> None:
    url, state = server
    reqs = [GenerationRequest(prompt=f"p{i}") for i in range(12)]
    out = backend(url, concurrency=3).generate(reqs)
    assert [c.text for c in out] == [f"<code>base-model:p{i}</code> STOP tail" for i in range(12)]
    assert 2 <= state.max_in_flight <= 3


def test_retries_on_5xx_and_429(server) -> None:
    url, state = server
    out = backend(url, model="flaky").generate([GenerationRequest(prompt="a"), GenerationRequest(prompt="b")])
    assert [c.text for c in out] == ["<code>flaky:a</code> STOP tail", "<code>flaky:b</code> STOP tail"]
    assert state.seen[("flaky", '"a"')] == 3  # two 503s, then success
    out = backend(url, model="ratelimited").generate([GenerationRequest(prompt="c")])
    assert out[0].text.startswith("<code>ratelimited:c")


def test_gives_up_after_max_retries(server) -> None:
    url, state = server
    with pytest.raises(BackendError, match="giving up after 2 retries.*HTTP 500"):
        backend(url, model="always500", max_retries=2).generate([GenerationRequest(prompt="z")])
    assert state.seen[("always500", '"z"')] == 3
    soft = backend(url, model="always500", max_retries=1, on_error="completion")
    c = soft.generate([GenerationRequest(prompt="y")])[0]
    assert c.finish_reason == "error" and "HTTP 500" in (c.error or "")


@pytest.mark.parametrize(
    "model, key, exc, pattern",
    [
        ("base-model", "wrong-key", AuthError, "authentication failed \\(HTTP 401\\)"),
        ("quota", KEY, QuotaError, "quota exhausted"),
        ("missing", KEY, ModelNotFoundError, "model 'missing' at http://127.0.0.1:\\d+/v1: model not found"),
    ],
)
def test_fatal_errors_are_clear_and_not_retried(server, model, key, exc, pattern) -> None:
    url, state = server
    with pytest.raises(exc, match=pattern):
        backend(url, model=model, api_key=key).generate([GenerationRequest(prompt="q")])
    assert state.seen[(model, '"q"')] == 1


def test_connection_error_is_retried_then_reported() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    be = backend(f"http://127.0.0.1:{port}/v1", max_retries=1, timeout_s=2)
    with pytest.raises(BackendError, match="connection failed"):
        be.generate([GenerationRequest(prompt="x")])


def test_api_key_fallback_and_use_inside_event_loop(server, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    be = get_backend("openai", model="base-model", base_url=url)

    async def inside() -> list:
        direct = await be.agenerate([GenerationRequest(prompt="async")])
        blocking = be.generate([GenerationRequest(prompt="sync")])  # works from a running loop too
        return direct + blocking

    out = asyncio.run(inside())
    assert [c.text for c in out] == [
        "<code>base-model:async</code> STOP tail",
        "<code>base-model:sync</code> STOP tail",
    ]
