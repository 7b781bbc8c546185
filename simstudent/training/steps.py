"""One optimizer step: how its examples become micro-batches, and how the loss is taken.

Two ways, selected by :class:`~simstudent.training.config.LoraTrainConfig`:

- **reference** (``batching="fixed"``, ``loss="logits"``): micro-batches of
  ``per_device_batch_size`` examples in data order, each right-padded to its longest
  example; the model's own forward returns logits (on completion positions only where
  transformers supports a ``logits_to_keep`` mask), cross-entropy over them.
- **fast** (the default: ``batching="length-grouped"``, ``loss="chunked"``): the same
  examples of the step, longest first, packed greedily into micro-batches whose padded
  size (rows x longest) stays within ``micro_batch_tokens``, so little compute goes to
  padding and memory is bounded by the budget, not by the longest example times the
  batch size. The decoder returns hidden states; only completion positions are projected
  onto the vocabulary, in chunks of ``loss_chunk_tokens`` that are recomputed in the
  backward pass (activation checkpointing), so at most one chunk's fp32 logits exist
  at a time however large the vocabulary.

Both give the same step loss: the sum of token losses of all micro-batches divided by
the step's completion-token count (a mean over the step's completion tokens, so how
the step is cut into micro-batches does not change the gradient).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from simstudent.training.dataset import IGNORE_INDEX, Feature, collate


def plan_micro_batches(features: Sequence[Feature], indices: Sequence[int], *, batching: str,
                       batch_size: int, token_budget: int) -> list[list[int]]:
    """The micro-batches (feature indices) of one optimizer step's examples."""
    if batching == "fixed":
        return [list(indices[i:i + batch_size]) for i in range(0, len(indices), batch_size)]
    ordered = sorted(indices, key=lambda i: -len(features[i].input_ids))
    out: list[list[int]] = []
    for i in ordered:
        # Longest first: the first row of a micro-batch sets its padded width.
        if out and (len(out[-1]) + 1) * len(features[out[-1][0]].input_ids) <= token_budget:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def keep_lora_inputs_in_compute_dtype(model: Any) -> int:
    """Stop peft from casting each LoRA layer's input to its weights' dtype.

    Under bf16 autocast the frozen base runs in bf16 while the LoRA weights stay fp32.
    peft's LoRA forward then copies every adapted layer's input to fp32, applies
    dropout in fp32, and autocast copies it back to bf16 for the low-rank matmul: two
    full-activation copies and an fp32 dropout per adapted layer (7 per decoder layer).
    Left in bf16, the input goes to dropout and the matmul as is; autocast casts only
    the small LoRA weights, and their gradients still accumulate in fp32.
    Returns the number of layers changed.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    changed = 0
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = False
            changed += 1
    return changed


def padded_tokens(features: Sequence[Feature], micro: Sequence[Sequence[int]]) -> int:
    """Tokens the model processes for these micro-batches, padding included."""
    return sum(len(m) * max(len(features[i].input_ids) for i in m) for m in micro)


def _keep_mask(labels: Any) -> Any:
    """Position j predicts token j+1: keep it where label j+1 is trained."""
    import torch

    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return keep


def chunked_supported(model: Any) -> bool:
    """Whether the chunked loss computes exactly what the model's own head would: a
    decoder plus a plain output projection (no logit scaling or soft-capping)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(base, "config", None)
    special = any(getattr(cfg, name, None) not in (None, 1.0) for name in ("final_logit_softcapping", "logit_scale"))
    return (not special and hasattr(base, "get_decoder") and base.get_output_embeddings() is not None)


def _chunk_loss(head: Any, hidden: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    return F.cross_entropy(head(hidden).float(), targets, reduction="sum")


def chunked_completion_loss(model: Any, batch: dict, chunk_tokens: int) -> Any:
    """Summed cross-entropy over the completion tokens of one micro-batch, projecting
    only completion positions onto the vocabulary, ``chunk_tokens`` rows at a time."""
    from torch.utils.checkpoint import checkpoint

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    keep = _keep_mask(batch["labels"])
    rows = hidden[keep]
    targets = batch["labels"][:, 1:][keep[:, :-1]]
    head = base.get_output_embeddings()
    total = rows.new_zeros((), dtype=rows.dtype).float()
    for start in range(0, rows.shape[0], chunk_tokens):
        part = slice(start, start + chunk_tokens)
        total = total + checkpoint(_chunk_loss, head, rows[part], targets[part], use_reentrant=False)
    return total


def logits_completion_loss(model: Any, batch: dict, masked: bool) -> Any:
    """Summed cross-entropy from the model's own logits (the reference path)."""
    import torch.nn.functional as F

    keep = _keep_mask(batch["labels"])
    targets = batch["labels"][:, 1:][keep[:, :-1]]
    if masked:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       logits_to_keep=keep).logits
    else:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[keep]
    return F.cross_entropy(logits.float(), targets, reduction="sum")


def step_loss(model: Any, features: Sequence[Feature], micro: Sequence[Sequence[int]], *, pad_id: int,
              device: str, autocast: Callable[[], Any], loss: str, chunk_tokens: int = 512,
              masked: bool = False) -> tuple[float, int]:
    """Forward + backward over one optimizer step; returns (loss, completion tokens),
    the loss being the mean over the step's completion tokens."""
    batches = [collate([features[i] for i in m], pad_id) for m in micro]
    n_tokens = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches)
    total = 0.0
    for b in batches:
        b = {k: v.to(device) for k, v in b.items()}
        with autocast():
            if loss == "chunked":
                summed = chunked_completion_loss(model, b, chunk_tokens)
            else:
                summed = logits_completion_loss(model, b, masked)
        part = summed / max(1, n_tokens)
        part.backward()
        total += float(part.detach())
    return total, n_tokens
