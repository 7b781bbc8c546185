"""The GPU path in one run (about 5 minutes on one modern GPU with the 135M default):

1. one LoRA training step in bf16 (peft, the committed adapter's r/alpha/targets);
2. vLLM generation with the committed adapter (a PEFT folder + simstudent.json);
3. generation throughput, vLLM vs the hf backend on the same requests, side by side.

Prints each result and ``ratio: X`` (vLLM tokens/s over hf tokens/s) last. Without a
CUDA GPU or without vLLM it stops at once with one line and exit status 2.

    python benchmarks/gpu_check.py [--model default] [--adapter itap-exp2-k3-ctx] [--requests 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def die(message: str) -> None:
    print(f"gpu_check: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def train_step(model_path: str, adapter_dir) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hp = json.loads((adapter_dir / "simstudent.json").read_text())["hyperparameters"]
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=torch.bfloat16).cuda()
    model = get_peft_model(model, LoraConfig(r=hp["r"], lora_alpha=hp["alpha"], target_modules=hp["target_modules"],
                                             lora_dropout=hp["dropout"], task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=hp["lr"])
    text = ["def count_stairs(n):\n    if n <= 1:\n        return 1\n    return count_stairs(n - 1) + count_stairs(n - 2)\n"] * 4
    batch = tok(text, return_tensors="pt", padding=True).to("cuda")
    t0 = time.perf_counter()
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    opt.step()
    torch.cuda.synchronize()
    assert torch.isfinite(loss), "the bf16 LoRA step gave a non-finite loss"
    print(f"train: one LoRA bf16 step, loss {loss.item():.3f}, {time.perf_counter() - t0:.2f} s")
    del model, opt
    torch.cuda.empty_cache()


def requests(n: int, adapter: str, max_new: int):
    from simstudent.models import GenerationRequest, SamplingParams

    prompts = [f"# Exercise {i}: write count_stairs(n), the ways to climb n stairs.\ndef count_stairs(n):\n"
               for i in range(n)]
    return [GenerationRequest(prompt=p, adapter=adapter, sampling=SamplingParams(
        max_new_tokens=max_new, temperature=0.8, top_p=0.95, seed=i)) for i, p in enumerate(prompts)]


def throughput(backend, reqs) -> float:
    backend.generate(reqs[:2])  # warm-up (compilation, CUDA graphs)
    t0 = time.perf_counter()
    out = backend.generate(reqs)
    wall = time.perf_counter() - t0
    tokens = sum(c.completion_tokens or 0 for c in out)
    assert tokens > 0, f"{backend.name}: no token generated"
    print(f"{backend.name}: {len(out)} completions, {tokens} tokens in {wall:.1f} s = {tokens / wall:.0f} tokens/s")
    return tokens / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--adapter", default="itap-exp2-k3-ctx")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        die("torch is not installed")
    if not torch.cuda.is_available():
        die("no CUDA GPU visible to torch: this check needs a GPU machine (nvidia-smi must list one)")
    try:
        import vllm  # noqa: F401
    except ImportError:
        die("vLLM is not installed: pip install -e '.[gpu]'")
    from simstudent.models import BackendConfig, build_backend
    from simstudent.models.adapters import resolve_adapter
    from simstudent.models.default import resolve_model

    adapter_dir = resolve_adapter(args.adapter)
    model_path = resolve_model(args.model)
    print(f"gpu: {torch.cuda.get_device_name(0)}; model {model_path}; adapter {adapter_dir}")
    train_step(model_path, adapter_dir)
    reqs = requests(args.requests, str(adapter_dir), args.max_new_tokens)
    vllm_be = build_backend(BackendConfig(backend="vllm", model=args.model, seed=0,
                                          options={"gpu_memory_utilization": 0.5}))
    sample = vllm_be.generate(reqs[:1])[0].text
    print(f"vllm with adapter: {sample[:80]!r}")
    vllm_rate = throughput(vllm_be, reqs)
    del vllm_be
    hf_be = build_backend(BackendConfig(backend="hf", model=args.model, dtype="bf16", batch_size=32))
    hf_rate = throughput(hf_be, reqs)
    print(f"ratio: {vllm_rate / hf_rate:.2f}")


if __name__ == "__main__":
    main()
