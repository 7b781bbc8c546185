"""The hf backend on a tiny random model built in the test (no hub access)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from simstudent.models import GenerationRequest, SamplingParams, get_backend  # noqa: E402
from simstudent.models.adapters import META_FILE  # noqa: E402
from simstudent.models.tiny import build_tiny_model  # noqa: E402

torch.set_num_threads(1)
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=12)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", hidden=64)


@pytest.fixture(scope="module")
def adapters(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two LoRA adapters with random (non-zero) weights, so each changes the output."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = {}
    for i, name in enumerate(["alpha", "beta"]):
        torch.manual_seed(100 + i)
        base = AutoModelForCausalLM.from_pretrained(str(tiny))
        cfg = LoraConfig(r=4, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
        path = tmp_path_factory.mktemp("adapters") / f"v1.0-{name}"  # dots: not valid peft names
        get_peft_model(base, cfg).save_pretrained(str(path))
        out[name] = path
    (out["alpha"] / META_FILE).write_text(json.dumps(
        {"name": "alpha", "base_model": str(tiny), "template": "ft-exp2-ctx", "exp": "exp2", "k": 3, "context": True}
    ))
    return out


@pytest.fixture(scope="module")
def backend(tiny: Path):
    return get_backend("hf", model=str(tiny), batch_size=8, dtype="fp32")


PROMPTS = ["def f(x):", "x = 1\nprint(x", "Hello", "A much longer prompt than the others, with more tokens in it."]


def test_batched_equals_one_at_a_time(backend) -> None:
    """Left padding with an attention mask: a prompt's greedy output does not depend on
    the other prompts in its batch; results come back in request order."""
    reqs = [GenerationRequest(prompt=p, sampling=GREEDY) for p in PROMPTS]
    batched = backend.generate(reqs)
    single = [backend.generate([r])[0] for r in reqs]
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.prompt_tokens for c in batched] == [len(p.encode()) for p in PROMPTS]  # byte tokenizer
    assert all(c.completion_tokens == 12 and c.finish_reason == "length" for c in batched)


def test_sampling_seed_is_reproducible(backend) -> None:
    s = SamplingParams(max_new_tokens=10, seed=7)  # paper defaults: T 0.7, top-p 0.8, top-k 20
    reqs = [GenerationRequest(prompt=p, sampling=s) for p in PROMPTS]
    a, b = backend.generate(reqs), backend.generate(reqs)
    assert [c.text for c in a] == [c.text for c in b]
    other = backend.generate([GenerationRequest(prompt=p, sampling=SamplingParams(max_new_tokens=10, seed=8))
                              for p in PROMPTS])
    assert [c.text for c in other] != [c.text for c in a]


def test_chat_request_uses_chat_template(backend) -> None:
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    out = backend.generate([GenerationRequest(messages=msgs, sampling=GREEDY)])[0]
    expected = "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert out.prompt_tokens == len(backend.tokenizer(expected, add_special_tokens=False)["input_ids"])
    raw = backend.generate([GenerationRequest(prompt=expected, sampling=GREEDY)])[0]
    assert out.text == raw.text


def test_stop_strings_truncate(backend) -> None:
    req = GenerationRequest(prompt="def f(x):", sampling=SamplingParams(temperature=0.0, max_new_tokens=24))
    full = backend.generate([req])[0].text
    assert len(full) >= 6
    stop = full[3:5]
    cut = backend.generate([GenerationRequest(prompt="def f(x):", sampling=req.sampling, stop=[stop])])[0]
    assert cut.text == full[: full.find(stop)]
    assert cut.finish_reason == "stop"


def test_several_adapters_on_one_base(tiny: Path, adapters: dict[str, Path]) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    # fp32: the references below are computed in fp32
    be = get_backend("hf", model=str(tiny), adapters={"alpha": str(adapters["alpha"])}, batch_size=4, dtype="fp32")
    prompt = "def f(x):"
    reqs = [
        GenerationRequest(prompt=prompt, sampling=GREEDY, adapter="alpha"),
        GenerationRequest(prompt=prompt, sampling=GREEDY),
        GenerationRequest(prompt=prompt, sampling=GREEDY, adapter=str(adapters["beta"])),  # by path
        GenerationRequest(prompt=prompt, sampling=GREEDY, adapter="alpha"),
    ]
    completions = be.generate(reqs)
    texts = [c.text for c in completions]
    assert texts[0] == texts[3]
    assert len({texts[0], texts[1], texts[2]}) == 3  # base, alpha and beta all differ
    # the loop decoder runs each adapter merged into a copy of the model (the references
    # below run peft's unmerged layers)
    assert [c.settings["adapter_merged"] for c in completions] == [True, False, True, True]

    def reference(adapter_path: Path | None) -> str:
        model = AutoModelForCausalLM.from_pretrained(str(tiny))
        if adapter_path is not None:
            model = PeftModel.from_pretrained(model, str(adapter_path))
        ids = be.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12,
                                 pad_token_id=be.tokenizer.pad_token_id, eos_token_id=be.tokenizer.eos_token_id)
        return be.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

    assert texts[1] == reference(None)
    assert texts[0] == reference(adapters["alpha"])
    assert texts[2] == reference(adapters["beta"])
    assert be.template_for("alpha") == "ft-exp2-ctx"
    assert be.template_for(str(adapters["beta"])) is None  # no simstudent.json
    assert be.template_for(None) is None
    assert be.loaded_adapters == sorted(["alpha", str(adapters["beta"])])


def test_unknown_adapter_is_a_clear_error(backend) -> None:
    with pytest.raises(FileNotFoundError, match="no-such-adapter"):
        backend.generate([GenerationRequest(prompt="x", sampling=GREEDY, adapter="no-such-adapter")])


@pytest.mark.slow
def test_default_model_generates() -> None:
    pytest.importorskip("gguf")
    from simstudent.models.default import default_model_dir

    try:
        default_model_dir()
    except Exception as exc:  # noqa: BLE001 - package missing: skip with the reason
        pytest.skip(str(exc))
    be = get_backend("hf", model="default", num_threads=1)
    out = be.generate([GenerationRequest(
        messages=[{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}],
        sampling=SamplingParams(temperature=0.0, max_new_tokens=24),
    )])[0]
    assert "def " in out.text and out.completion_tokens > 0


def test_assistant_prefix_primes_the_answer(backend) -> None:
    """A chat request's prefix goes right after the generation prompt: the model continues
    it (its greedy output equals a raw prompt ending with the prefix), and the completion
    text starts with the prefix, so parsing sees the whole <code> block."""
    msgs = [{"role": "user", "content": "Write count_stairs."}]
    prefix = "<code>\ndef count_stairs(n):"
    primed = backend.generate([GenerationRequest(messages=msgs, sampling=GREEDY, assistant_prefix=prefix)])[0]
    assert primed.text.startswith(prefix)
    assert len(primed.text) > len(prefix)  # the model generated a continuation
    raw = backend.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    plain = backend.generate([GenerationRequest(prompt=raw + prefix, sampling=GREEDY)])[0]
    assert primed.text == prefix + plain.text
    unprimed = backend.generate([GenerationRequest(messages=msgs, sampling=GREEDY)])[0]
    assert not unprimed.text.startswith(prefix)
