"""The openai backend against several OpenAI-compatible servers: round-robin, a failed
request retried on the next server, a LoRA adapter sent as the served model name.

The servers are the small fake from tests/test_backend_openai.py on 127.0.0.1 (real
vLLM servers cannot run here).
"""

from __future__ import annotations

import socket
import threading
from http.server import ThreadingHTTPServer

import pytest

pytest.importorskip("openai")

from simstudent.models import BackendConfig, BackendError, GenerationRequest, build_backend  # noqa: E402
from test_backend_openai import KEY, FakeOpenAI, make_handler  # noqa: E402


@pytest.fixture
def servers():
    started = []
    for _ in range(2):
        state = FakeOpenAI()
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append((httpd, state))
    yield [(f"http://127.0.0.1:{h.server_address[1]}/v1", s) for h, s in started]
    for h, _ in started:
        h.shutdown()
        h.server_close()


def dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def backend(urls: list[str], model: str = "base-model", **options):
    options.setdefault("api_key", KEY)
    options.setdefault("backoff_base_s", 0.01)
    return build_backend(BackendConfig(backend="openai", model=model, base_url=",".join(urls), options=options))


def test_requests_go_round_robin_across_servers(servers):
    (a, sa), (b, sb) = servers
    be = backend([a, b])
    out = be.generate([GenerationRequest(prompt=f"q{i}") for i in range(6)])
    assert [c.text for c in out] == [f"<code>base-model:q{i}</code> STOP tail" for i in range(6)]
    assert len(sa.bodies) == len(sb.bodies) == 3
    # The turn carries over between calls: an odd batch does not always start on the first server.
    be.generate([GenerationRequest(prompt="x")])
    be.generate([GenerationRequest(prompt="y")])
    assert len(sa.bodies) == len(sb.bodies) == 4


def test_a_failed_request_is_retried_on_the_next_server(servers):
    (a, sa), _ = servers
    be = backend([dead_url(), a], max_retries=1, timeout_s=2)
    out = be.generate([GenerationRequest(prompt=f"q{i}") for i in range(4)])
    assert [c.finish_reason for c in out] == ["stop"] * 4
    assert len(sa.bodies) == 4  # every request ended on the live server


def test_all_servers_down_is_a_clear_error():
    be = backend([dead_url(), dead_url()], max_retries=2, timeout_s=2)
    with pytest.raises(BackendError, match="giving up after 2 retries: connection failed"):
        be.generate([GenerationRequest(prompt="x")])


def test_adapter_is_the_served_model_name(servers):
    (a, sa), (b, sb) = servers
    be = backend([a, b], model="Qwen/Qwen2.5-Coder-7B")
    out = be.generate([GenerationRequest(prompt="p", adapter="itap-exp2"), GenerationRequest(prompt="p")])
    assert [body["model"] for body in sa.bodies + sb.bodies] == ["itap-exp2", "Qwen/Qwen2.5-Coder-7B"]
    assert out[0].text.startswith("<code>itap-exp2:p")


def test_a_list_of_servers_works_like_a_comma_separated_one(servers):
    from simstudent.models import get_backend

    (a, sa), (b, sb) = servers
    be = get_backend("openai", model="m", base_url=[a, b], api_key=KEY)
    be.generate([GenerationRequest(prompt="1"), GenerationRequest(prompt="2")])
    assert len(sa.bodies) == len(sb.bodies) == 1
    with pytest.raises(ValueError, match="names no server"):
        get_backend("openai", model="m", base_url=" , ")
