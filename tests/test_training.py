"""LoRA training on a tiny random model: labels, the loop, checkpoints, resume, adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from simstudent.models.adapters import load_adapter_meta, list_adapters  # noqa: E402
from simstudent.models.loading import load_tokenizer  # noqa: E402
from simstudent.models.tiny import build_tiny_model  # noqa: E402
from simstudent.prompts import render_example  # noqa: E402
from simstudent.schema import Example, Problem  # noqa: E402
from simstudent.training import LoraTrainConfig, train_lora  # noqa: E402
from simstudent.training import lora as lora_mod  # noqa: E402
from simstudent.training.dataset import IGNORE_INDEX, build_features, collate, fingerprint, tokenize_example  # noqa: E402

torch.set_num_threads(1)

PROBLEM = Problem(id="p1", instructions="Add.", skeleton_code="def add(a, b):\n    pass\n")


def _examples(n: int = 6) -> list[Example]:
    out = []
    for t in range(n):
        out.append(Example(
            exp="exp2", student_id=f"s{t % 2}", problem_id="p1", target_index=t % 3,
            target=f"def add(a, b):\n    return a + {t}", stream_length=3, is_final=t % 3 == 2, k=1,
            prior=[None if t % 3 == 0 else "def add(a, b):\n    return a"],
        ))
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_prompt_tokens_are_labelled_minus_100(tiny: Path) -> None:
    tok = load_tokenizer(str(tiny), padding_side="right")
    ex = _examples(3)[2]
    prompt, completion = (lambda r: (r.prompt, r.completion))(render_example(ex, PROBLEM, "ft-exp2"))
    feat, cut_p, cut_c = tokenize_example(ex, PROBLEM, tok, "ft-exp2", max_seq_len=4096)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert not cut_p and not cut_c
    assert feat.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt  # every prompt token masked
    assert feat.labels[n_prompt:] == feat.input_ids[n_prompt:]  # every completion token trained
    assert all(x != IGNORE_INDEX for x in feat.labels[n_prompt:])
    assert tok.decode(feat.input_ids[:n_prompt]) == prompt
    assert tok.decode(feat.input_ids[n_prompt:]) == completion + tok.eos_token
    assert completion.endswith("</code><SUBMIT>")


def test_too_long_examples_keep_completion(tiny: Path) -> None:
    tok = load_tokenizer(str(tiny), padding_side="right")
    ex = _examples(1)[0]
    feat, cut_p, cut_c = tokenize_example(ex, PROBLEM, tok, "ft-exp2", max_seq_len=80)
    completion = render_example(ex, PROBLEM, "ft-exp2").completion
    assert cut_p and not cut_c and len(feat.input_ids) == 80
    assert tok.decode([t for t in feat.labels if t != IGNORE_INDEX]) == completion + tok.eos_token
    feats, stats = build_features(_examples(4), {"p1": PROBLEM}, tok, "ft-exp2", 80)
    assert stats.n == 4 and stats.prompt_truncated == 4
    batch = collate(feats[:2], tok.pad_token_id)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    with pytest.raises(KeyError, match="no problem spec for 1 problem"):
        build_features(_examples(1), {}, tok, "ft-exp2", 80)


def test_config_defaults_are_the_papers() -> None:
    c = LoraTrainConfig()
    assert (c.r, c.alpha, c.dropout, c.target_modules) == (16, 32, 0.05, "all-linear")
    assert (c.epochs, c.lr, c.scheduler, c.effective_batch_size) == (1.0, 1e-4, "cosine", 16)
    assert c.precision == "auto" and c.max_steps is None
    with pytest.raises(ValueError):
        LoraTrainConfig(r=0)


def _config(**kw) -> LoraTrainConfig:
    base = dict(model="", r=4, alpha=8, dropout=0.1, lr=5e-3, per_device_batch_size=2, grad_accum=1,
                max_seq_len=512, max_steps=4, save_steps=2, seed=1, device="cpu")
    base.update(kw)
    return LoraTrainConfig(**base)


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_train_writes_adapter_and_resumes_exactly(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    examples = _examples()
    cfg = _config(model=str(tiny))
    meta = {"name": "run", "exp": "exp2", "k": 1, "context": False, "data": "hand-made"}

    full = train_lora(examples, {"p1": PROBLEM}, cfg, tmp_path / "full", template="ft-exp2", meta=dict(meta))
    assert full.steps == 4
    m = load_adapter_meta(tmp_path / "full")
    assert (m.template, m.exp, m.k, m.context, m.steps, m.n_examples) == ("ft-exp2", "exp2", 1, False, 4, 6)
    assert m.data_fingerprint == fingerprint(examples) and m.final_loss == pytest.approx(full.final_loss)
    assert m.hyperparameters["r"] == 4 and m.hyperparameters["effective_batch_size"] == 2
    assert m.model_extra["precision"] == ("bf16" if lora_mod.bf16_supported("cpu") else "fp32")
    assert m.model_extra["attention"] == "eager"  # auto on CPU
    assert len(m.loss_curve) == 4 and m.loss_curve[-1] == pytest.approx(full.final_loss, abs=1e-5)
    assert m.wall_time_s is not None and m.tokens_per_s and m.tokens_per_s > 0
    log = [json.loads(x) for x in (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4]
    assert log[-1]["lr"] < log[0]["lr"]  # cosine decay
    assert (tmp_path / "full" / "adapter_config.json").is_file()
    assert [p.name for p in (tmp_path / "full" / "checkpoints").iterdir()] == ["step-000002"]

    # Interrupt a second, identical run during step 3; resume; it must end where the first did.
    real = lora_mod.step_loss
    calls = {"n": 0}

    def crash_on_third(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(lora_mod, "step_loss", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        train_lora(examples, {"p1": PROBLEM}, cfg, tmp_path / "cut", template="ft-exp2", meta=dict(meta))
    monkeypatch.setattr(lora_mod, "step_loss", real)
    with pytest.raises(FileExistsError, match="--resume"):
        train_lora(examples, {"p1": PROBLEM}, cfg, tmp_path / "cut", template="ft-exp2", meta=dict(meta))
    resumed = train_lora(examples, {"p1": PROBLEM}, cfg, tmp_path / "cut", template="ft-exp2", meta=dict(meta),
                         resume=True)
    assert resumed.steps == 4
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.final_loss == pytest.approx(full.final_loss, rel=1e-6)
    steps = [json.loads(x)["step"] for x in (tmp_path / "cut" / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # append-only log: 1-2 before the crash, 3-4 after resuming
    again = train_lora(examples, {"p1": PROBLEM}, cfg, tmp_path / "cut", template="ft-exp2", meta=dict(meta),
                       resume=True)
    assert again.steps == 4  # already complete: nothing retrained

    listed = list_adapters(tmp_path)
    assert [p.name for p, _ in listed] == ["cut", "full"]


def test_loss_goes_down_and_backend_uses_adapter(tiny: Path, tmp_path: Path) -> None:
    from simstudent.models import get_backend
    from simstudent.loop_prompts import render_loop_prompt

    examples = _examples(2)
    cfg = _config(model=str(tiny), max_steps=25, lr=1e-2, r=8, alpha=16, dropout=0.0, save_steps=100,
                  scheduler="constant")
    train_lora(examples, {"p1": PROBLEM}, cfg, tmp_path / "a", template="ft-exp2",
               meta={"name": "a", "exp": "exp2", "k": 1, "context": False})
    losses = [json.loads(x)["loss"] for x in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] * 0.95, losses  # tiny model: slow but steady

    be = get_backend("hf", model=str(tiny), adapters={"a": str(tmp_path / "a")})
    tpl = be.template_for("a")
    assert tpl == "ft-exp2"
    req = render_loop_prompt(PROBLEM, [], None, tpl, k=1).to_request(adapter="a")
    req.sampling.max_new_tokens = 8
    out = be.generate([req, render_loop_prompt(PROBLEM, [], None, tpl, k=1).to_request()])
    assert len(out) == 2 and all(c.completion_tokens > 0 for c in out)


def test_adapters_list_cli_and_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simstudent.cli import app

    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "simstudent.json").write_text(json.dumps(
        {"name": "good", "base_model": "default", "template": "ft-exp1", "exp": "exp1", "steps": 3, "final_loss": 1.5}))
    (bad / "adapter_config.json").write_text("{}")
    (bad / "simstudent.json").write_text('{"name": "bad", "base_model": "m", "template": "ft-exp1", "exp": "exp9"}')
    (tmp_path / "not-an-adapter").mkdir()
    runner = CliRunner()
    res = runner.invoke(app, ["adapters", "list", "--json", "--dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r.get("name") for r in rows] == [None, "good"]
    assert "field 'exp'" in rows[0]["error"] and rows[0]["path"].endswith("bad")
    assert rows[1]["template"] == "ft-exp1" and rows[1]["final_loss"] == 1.5
    table = runner.invoke(app, ["adapters", "list", "--dir", str(tmp_path)])
    assert table.exit_code == 0 and "good" in table.stdout and "ft-exp1" in table.stdout
    empty = runner.invoke(app, ["adapters", "list", "--dir", str(tmp_path / "not-an-adapter")])
    assert "no adapters" in empty.stdout
    wrong = runner.invoke(app, ["train", "--data", str(tmp_path), "--exp", "exp3"])
    assert wrong.exit_code == 2 and "--exp must be exp1, exp2 or loop" in wrong.output
    mismatch = runner.invoke(app, ["train", "--data", str(tmp_path), "--exp", "exp2", "--template", "ft-exp1"])
    assert mismatch.exit_code == 2 and "is for exp1" in mismatch.output


def _reference_and(fast_kw: dict, tiny: Path, tmp_path: Path, name: str) -> tuple[list[float], list[float]]:
    """Loss of the first steps on the reference path (fixed micro-batches of 2, the
    model's own logits, fp32, sdpa attention) and on a fast configuration, same data, same seed."""
    examples = _examples(8)
    common = dict(model=str(tiny), per_device_batch_size=2, grad_accum=2, max_steps=3, save_steps=100, dropout=0.0)
    ref = _config(**common, precision="fp32", batching="fixed", loss="logits", attention="sdpa")
    fast = _config(**common, micro_batch_tokens=300, loss_chunk_tokens=7, **fast_kw)
    out = []
    for cfg, sub in ((ref, "ref"), (fast, name)):
        train_lora(examples, {"p1": PROBLEM}, cfg, tmp_path / sub, template="ft-exp2",
                   meta={"name": sub, "exp": "exp2", "k": 1, "context": False})
        out.append(load_adapter_meta(tmp_path / sub).loss_curve)
    return out[0], out[1]


def test_fast_path_fp32_matches_reference_loss(tiny: Path, tmp_path: Path) -> None:
    """Length-grouped micro-batches + the chunked completion-only loss compute the same
    step loss as fixed micro-batches + full logits: the loss is a mean over the step's
    completion tokens, so how the step is cut up changes nothing but rounding."""
    ref, fast = _reference_and({"precision": "fp32"}, tiny, tmp_path, "fast32")
    assert len(ref) == len(fast) == 3
    assert fast == pytest.approx(ref, rel=1e-4)


def test_fast_path_bf16_loss_within_noise(tiny: Path, tmp_path: Path) -> None:
    if not lora_mod.bf16_supported("cpu"):
        pytest.skip("this CPU has no native bf16 (AVX-512 BF16 / AMX)")
    ref, fast = _reference_and({"precision": "bf16"}, tiny, tmp_path, "fast16")
    # bf16 keeps 8 bits of mantissa (relative rounding ~0.4 %); over 2 layers and a
    # cross-entropy of ~ln(vocab) the step losses agree to about 1 %, far below the
    # step-to-step movement of the loss.
    assert fast == pytest.approx(ref, rel=2e-2)


def test_length_grouped_plan_keeps_every_example_within_budget() -> None:
    from simstudent.training.dataset import Feature
    from simstudent.training.steps import padded_tokens, plan_micro_batches

    lens = [10, 50, 20, 45, 5, 100]
    feats = [Feature([1] * n, [1] * n) for n in lens]
    plan = plan_micro_batches(feats, list(range(6)), batching="length-grouped", batch_size=2, token_budget=100)
    # longest first: 100 alone (2 x 100 > 100); 50 + 45 (2 x 50 = 100); 20, 10, 5 (3 x 20 = 60)
    assert plan == [[5], [1, 3], [2, 0, 4]]
    assert padded_tokens(feats, plan) == 100 + 100 + 60
    fixed = plan_micro_batches(feats, list(range(6)), batching="fixed", batch_size=2, token_budget=100)
    assert fixed == [[0, 1], [2, 3], [4, 5]]
    assert padded_tokens(feats, fixed) == 2 * 50 + 2 * 45 + 2 * 100


def test_lora_inputs_stay_bf16_under_autocast(tiny: Path) -> None:
    """With the base in bf16 and fp32 LoRA weights, peft would copy each adapted layer's
    input to fp32; after keep_lora_inputs_in_compute_dtype the LoRA matmuls see bf16
    inputs, and the LoRA weights (and their gradients) stay fp32."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from simstudent.training.steps import keep_lora_inputs_in_compute_dtype

    model = AutoModelForCausalLM.from_pretrained(str(tiny), dtype=torch.bfloat16)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    seen: list[torch.dtype] = []
    hooks = [m.register_forward_pre_hook(lambda _m, args: seen.append(args[0].dtype))
             for name, m in model.named_modules() if name.endswith("lora_A.default")]
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=ids)
    assert hooks and set(seen) == {torch.float32}  # peft's default: the fp32 copy
    assert keep_lora_inputs_in_compute_dtype(model) == len(hooks)
    seen.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=ids).logits.float().sum().backward()
    assert set(seen) == {torch.bfloat16}
    lora_weights = [p for n, p in model.named_parameters() if "lora_" in n]
    assert all(p.dtype == torch.float32 and p.grad is not None and p.grad.dtype == torch.float32
               for p in lora_weights)
