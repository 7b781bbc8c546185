"""LoRA supervised fine-tuning: a small explicit training loop.

Why not transformers' Trainer: the loop here is ~150 lines, keeps the loss exactly
"mean over completion tokens of the optimizer step" (Trainer averages per micro-batch),
and makes checkpoint/resume and the progress bar simstudent's own.

Checkpoints: ``<out>/checkpoints/step-NNNNNN/`` (adapter weights, optimizer, scheduler,
RNG state, then ``state.json`` last, which marks it complete) every ``save_steps``
steps; ``resume=True`` continues from the latest complete one, skipping the batches
already seen (the data order is a pure function of the seed and the epoch). Every
step appends one line to ``<out>/train_log.jsonl``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from simstudent.models.adapters import META_FILE, AdapterMeta, load_adapter_meta, write_adapter_meta
from simstudent.models.loading import load_model, load_tokenizer, pick_device, set_threads
from simstudent.schema import Example, Problem
from simstudent.training.config import LoraTrainConfig
from simstudent.training.dataset import build_features, fingerprint
from simstudent.training.steps import (
    chunked_supported,
    keep_lora_inputs_in_compute_dtype,
    padded_tokens,
    plan_micro_batches,
    step_loss,
)
from simstudent.errors import ConfigError, InputError

CKPT_DIR = "checkpoints"
STATE_FILE = "state.json"
LOG_FILE = "train_log.jsonl"


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    final_loss: Optional[float]
    meta: AdapterMeta


def _schedule(n: int, cfg: LoraTrainConfig) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps)."""
    micro = math.ceil(n / cfg.per_device_batch_size)
    per_epoch = max(1, math.ceil(micro / cfg.grad_accum))
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * per_epoch))
    return per_epoch, total


def _steps(n: int, cfg: LoraTrainConfig) -> Iterator[list[list[int]]]:
    """Each optimizer step's micro-batches (lists of feature indices), forever; the
    order of epoch e is a permutation seeded by (seed, e)."""
    import torch

    epoch = 0
    while True:
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(n, generator=g).tolist()
        micro = [order[i:i + cfg.per_device_batch_size] for i in range(0, n, cfg.per_device_batch_size)]
        for i in range(0, len(micro), cfg.grad_accum):
            yield micro[i:i + cfg.grad_accum]
        epoch += 1


def _latest_checkpoint(out: Path) -> Optional[Path]:
    done = sorted(p for p in (out / CKPT_DIR).glob("step-*") if (p / STATE_FILE).is_file())
    return done[-1] if done else None


def _save_checkpoint(out: Path, step: int, model: Any, opt: Any, sched: Any, state: dict, keep: int) -> None:
    import torch

    d = out / CKPT_DIR / f"step-{step:06d}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    model.save_pretrained(str(d))
    torch.save(opt.state_dict(), d / "optimizer.pt")
    torch.save(sched.state_dict(), d / "scheduler.pt")
    torch.save({"torch": torch.get_rng_state(), "python": random.getstate()}, d / "rng.pt")
    (d / STATE_FILE).write_text(json.dumps({**state, "step": step}, indent=2))  # last: marks it complete
    complete = sorted(p for p in (out / CKPT_DIR).glob("step-*") if (p / STATE_FILE).is_file())
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _save_fp16_adapter(model: Any, out: Path) -> None:
    """The final adapter: peft's files with the LoRA weights stored as fp16 (half the
    size; they are upcast to the base model's dtype on loading)."""
    import torch
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(out))
    weights = out / "adapter_model.safetensors"
    tensors = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})


def _load_checkpoint(d: Path, model: Any, opt: Any, sched: Any) -> dict:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(d / "adapter_model.safetensors")))
    opt.load_state_dict(torch.load(d / "optimizer.pt", weights_only=False))
    sched.load_state_dict(torch.load(d / "scheduler.pt", weights_only=False))
    rng = torch.load(d / "rng.pt", weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    return json.loads((d / STATE_FILE).read_text())


def _masked_logits_supported(model: Any) -> bool:
    """Whether the model takes a boolean ``logits_to_keep`` mask (transformers >= 5):
    then the reference path projects completion positions only."""
    import inspect

    import transformers.modeling_utils as mu

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return hasattr(mu, "slice_logits_to_keep") and "logits_to_keep" in inspect.signature(base.forward).parameters


def bf16_supported(device: str) -> bool:
    """Native bf16 compute: a bf16 GPU, or a CPU with AVX-512 BF16 / AMX (oneDNN says)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def train_lora(
    examples: Sequence[Example],
    problems: dict[str, Problem],
    config: LoraTrainConfig,
    out_dir: Path,
    *,
    template: str,
    meta: dict[str, Any],
    resume: bool = False,
    console: Any = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter on ``examples`` and write it to ``out_dir``.

    ``meta`` fills :class:`AdapterMeta` (name, exp, k, context, data, split_seed, ...).
    """
    import contextlib

    import torch
    from peft import LoraConfig, get_peft_model
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import get_scheduler

    console = console or Console(stderr=True)
    if not examples:  # before any model is loaded
        raise ValueError("no training examples")
    out = Path(out_dir)
    latest = _latest_checkpoint(out) if resume else None
    if not resume and ((out / CKPT_DIR).exists() or (out / "adapter_config.json").exists()):
        raise FileExistsError(f"{out} already holds a training run: pass --resume to continue it, or another --out")
    out.mkdir(parents=True, exist_ok=True)
    set_threads(config.num_threads)
    torch.manual_seed(config.seed)
    random.seed(config.seed)

    device = pick_device(config.device)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and bf16_supported(device))
    # bf16: the frozen base in bf16 under autocast; peft keeps the LoRA weights in fp32.
    attention = config.attention if config.attention != "auto" else ("eager" if device == "cpu" else None)
    model, model_path = load_model(config.model, device=device, dtype="bf16" if use_bf16 else "fp32",
                                   attn_implementation=attention)
    tokenizer = load_tokenizer(model_path, padding_side="right")
    features, stats = build_features(examples, problems, tokenizer, template, config.max_seq_len)
    if not features:
        raise InputError("no training examples")
    data_fp = fingerprint(examples)
    per_epoch, total_steps = _schedule(len(features), config)
    if resume and (out / META_FILE).is_file():
        done = load_adapter_meta(out)
        if done.data_fingerprint == data_fp and done.steps >= total_steps:
            console.print(f"[dim]{out} is already trained ({done.steps} steps); nothing to resume[/]")
            return TrainResult(out, done.steps, done.final_loss, done)

    model.train()
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=config.target_modules, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    if use_bf16:
        keep_lora_inputs_in_compute_dtype(model)  # no fp32 copy of each adapted layer's input
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = get_scheduler(config.scheduler, opt, num_warmup_steps=int(config.warmup_ratio * total_steps),
                          num_training_steps=total_steps)

    def autocast() -> Any:
        if use_bf16:
            return torch.autocast(device.split(":")[0], dtype=torch.bfloat16)
        return contextlib.nullcontext()

    run_state = {"data_fingerprint": data_fp, "config": config.hyperparameters(), "template": template}
    step, last_loss, losses = 0, None, []
    curve: list[float] = []  # every step's loss (the adapter's loss curve)
    wall_s, real_tokens = 0.0, 0  # accumulated over resumed sessions
    if latest is not None:
        saved = _load_checkpoint(latest, model, opt, sched)
        for key in ("data_fingerprint", "template"):
            if saved.get(key) != run_state[key]:
                raise ConfigError(f"{latest}: cannot resume: {key} differs from this run's")
        step, losses = saved["step"], saved.get("recent_losses", [])
        curve = saved.get("loss_curve", list(losses))
        wall_s, real_tokens = saved.get("wall_s", 0.0), saved.get("real_tokens", 0)
        last_loss = losses[-1] if losses else None
        console.print(f"[dim]resuming from {latest} (step {step}/{total_steps})[/]")

    masked = _masked_logits_supported(model)
    loss_kind = config.loss if (config.loss != "chunked" or chunked_supported(model)) else "logits"
    batches = _steps(len(features), config)
    for _ in range(step):
        next(batches)  # the data order is deterministic: skip what was already trained on
    log = (out / LOG_FILE).open("a")
    columns = [TextColumn("[bold]train[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TimeElapsedColumn(), TimeRemainingColumn()]
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("train", total=total_steps, completed=step, loss="-")
            while step < total_steps:
                indices = [i for mb in next(batches) for i in mb]
                micro = plan_micro_batches(features, indices, batching=config.batching,
                                           batch_size=config.per_device_batch_size,
                                           token_budget=config.micro_batch_tokens)
                loss, n_tok = step_loss(model, features, micro, pad_id=tokenizer.pad_token_id, device=device,
                                        autocast=autocast, loss=loss_kind, chunk_tokens=config.loss_chunk_tokens,
                                        masked=masked)
                real_tokens += sum(len(features[i].input_ids) for i in indices)
                padded = padded_tokens(features, micro)
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                last_loss = loss
                losses = (losses + [loss])[-20:]
                curve.append(round(loss, 6))
                log.write(json.dumps({"step": step, "loss": round(loss, 6), "lr": sched.get_last_lr()[0],
                                      "completion_tokens": n_tok, "epoch": round(step / per_epoch, 4),
                                      "elapsed_s": round(wall_s + time.perf_counter() - t0, 3),
                                      "real_tokens": real_tokens, "padded_tokens": padded,
                                      "cpu_s": round(time.process_time() - cpu0, 3)}) + "\n")
                log.flush()
                progress.update(task, advance=1, loss=f"{loss:.4f}")
                if step % config.save_steps == 0 and step < total_steps:
                    _save_checkpoint(out, step, model, opt, sched,
                                     {**run_state, "recent_losses": losses, "loss_curve": curve,
                                      "wall_s": wall_s + time.perf_counter() - t0, "real_tokens": real_tokens},
                                     config.save_total_limit)
    finally:
        log.close()
    wall_s += time.perf_counter() - t0

    _save_fp16_adapter(model, out)
    from simstudent import __version__

    meta = dict(meta)
    notes = list(meta.pop("notes", []))
    if loss_kind != config.loss:
        notes.append(f"loss {config.loss!r} is not exact for this model (logit scaling); trained with 'logits'")
    if stats.prompt_truncated or stats.completion_truncated:
        notes.append(f"max_seq_len {config.max_seq_len}: {stats.prompt_truncated} prompts lost their start, "
                     f"{stats.completion_truncated} completions were cut")
    adapter_meta = AdapterMeta(
        base_model=config.model,
        base_model_path=model_path,
        template=template,
        data_fingerprint=data_fp,
        n_examples=len(features),
        hyperparameters=config.hyperparameters(),
        final_loss=last_loss,
        mean_loss_last_10=(sum(losses[-10:]) / len(losses[-10:])) if losses else None,
        steps=step,
        epochs_done=round(step / per_epoch, 4),
        precision="bf16" if use_bf16 else "fp32",
        attention=getattr(model.config, "_attn_implementation", None),
        device=device,
        simstudent_version=__version__,
        tokens=stats.tokens,
        loss_curve=curve,
        wall_time_s=round(wall_s, 1),
        tokens_per_s=round(real_tokens / wall_s, 1) if wall_s > 0 else None,
        notes=notes,
        **meta,
    )
    write_adapter_meta(out, adapter_meta)
    return TrainResult(out, step, last_loss, adapter_meta)
