"""The vllm backend against vLLM's API shape.

vLLM needs a CUDA GPU and is not installed on these machines, so a fake ``vllm``
module (recording what it is called with) is injected into sys.modules. This checks
how simstudent drives the API (LLM kwargs, SamplingParams, LoRARequest, generate,
outputs); it does not check vLLM itself.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from simstudent.models import GenerationRequest, SamplingParams, get_backend
from simstudent.models.adapters import META_FILE


@dataclass
class FakeSamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    min_p: float = 0.0
    max_tokens: Optional[int] = 16
    min_tokens: int = 0
    seed: Optional[int] = None
    stop: Optional[list[str]] = None


@dataclass
class FakeLoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


@dataclass
class FakeCompletionOutput:
    text: str
    token_ids: list[int]
    finish_reason: Optional[str]


@dataclass
class FakeRequestOutput:
    prompt: str
    prompt_token_ids: list[int]
    outputs: list[FakeCompletionOutput] = field(default_factory=list)


class FakeTokenizer:
    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"[{m['role']}]{m['content']}" for m in messages) + "[assistant]"


class FakeLLM:
    instances: list["FakeLLM"] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[dict[str, Any]] = []
        FakeLLM.instances.append(self)

    def get_tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer()

    def generate(self, prompts, sampling_params=None, *, use_tqdm=True, lora_request=None):
        assert isinstance(prompts, list) and isinstance(sampling_params, list)
        assert len(sampling_params) == len(prompts)
        if lora_request is not None:
            assert len(lora_request) == len(prompts)
        self.calls.append({"prompts": prompts, "params": sampling_params, "lora": lora_request})
        outs = []
        for i, (p, sp) in enumerate(zip(prompts, sampling_params)):
            lora = lora_request[i].lora_name if lora_request and lora_request[i] else "base"
            text = f"<code>{lora}:{p[-5:]}</code>"
            reason = "length" if sp.max_tokens == 1 else "stop"
            outs.append(FakeRequestOutput(p, list(range(len(p))), [FakeCompletionOutput(text, [1, 2, 3], reason)]))
        return outs


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.SamplingParams = FakeSamplingParams
    lora_pkg = types.ModuleType("vllm.lora")
    lora_req = types.ModuleType("vllm.lora.request")
    lora_req.LoRARequest = FakeLoRARequest
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.lora", lora_pkg)
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora_req)
    FakeLLM.instances.clear()
    return vllm


def _adapter(tmp_path: Path, name: str, template: Optional[str] = None) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "adapter_config.json").write_text("{}")
    if template:
        (d / META_FILE).write_text(json.dumps({"name": name, "base_model": "m", "template": template, "exp": "exp2"}))
    return d


def test_engine_kwargs_and_batch(fake_vllm, tmp_path: Path) -> None:
    a = _adapter(tmp_path, "a1", "ft-exp2-ctx")
    b = _adapter(tmp_path, "b1")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    be = get_backend("vllm", model=str(model_dir), adapters={"a1": str(a)}, max_lora_rank=16, seed=3)
    llm = FakeLLM.instances[-1]
    assert llm.kwargs["model"] == str(model_dir.resolve())
    assert llm.kwargs["enable_lora"] is True and llm.kwargs["max_lora_rank"] == 16
    assert llm.kwargs["seed"] == 3

    s = SamplingParams(max_new_tokens=64, seed=11)
    reqs = [
        GenerationRequest(prompt="PROMPT-ONE", sampling=s, adapter="a1", stop=["\nPROBLEM INSTRUCTIONS:"]),
        GenerationRequest(prompt="PROMPT-TWO", sampling=SamplingParams(max_new_tokens=1, top_k=0)),
        GenerationRequest(messages=[{"role": "user", "content": "hi"}], sampling=s, adapter=str(b)),
        GenerationRequest(prompt="PROMPT-FOUR", sampling=s, adapter="a1"),
    ]
    out = be.generate(reqs)
    assert len(llm.calls) == 1  # one engine call for the whole mixed batch
    call = llm.calls[0]
    assert call["prompts"] == ["PROMPT-ONE", "PROMPT-TWO", "[user]hi[assistant]", "PROMPT-FOUR"]
    p0 = call["params"][0]
    assert (p0.temperature, p0.top_p, p0.top_k, p0.min_p, p0.max_tokens, p0.seed) == (0.7, 0.8, 20, 0.0, 64, 11)
    assert p0.stop == ["\nPROBLEM INSTRUCTIONS:"] and call["params"][1].stop is None
    assert call["params"][1].top_k == -1  # vLLM's "disabled"
    loras = call["lora"]
    assert loras[1] is None
    assert (loras[0].lora_name, loras[0].lora_int_id, loras[0].lora_path) == ("a1", 1, str(a))
    assert loras[3] == loras[0]
    assert loras[2].lora_int_id == 2 and loras[2].lora_path == str(b)
    assert [c.text for c in out] == ["<code>a1:T-ONE</code>", "<code>base:T-TWO</code>",
                                     f"<code>{b}:tant]</code>", "<code>a1:-FOUR</code>"]
    assert [c.finish_reason for c in out] == ["stop", "length", "stop", "stop"]
    assert out[0].prompt_tokens == len("PROMPT-ONE") and out[0].completion_tokens == 3
    assert be.template_for("a1") == "ft-exp2-ctx" and be.template_for(str(b)) is None


def test_base_only_batch_sends_no_lora(fake_vllm, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    be = get_backend("vllm", model=str(tmp_path), enable_lora=False)
    llm = FakeLLM.instances[-1]
    assert "enable_lora" not in llm.kwargs
    be.generate([GenerationRequest(prompt="x")])
    assert llm.calls[0]["lora"] is None
    assert be.generate([]) == []
    with pytest.raises(ValueError, match="enable_lora=False"):
        be.add_adapter("a", str(tmp_path))


def test_missing_vllm_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(ImportError, match=r"\.\[gpu\]"):
        get_backend("vllm", model="some/model")
