"""The LoRA fine-tuning settings, with the seed paper's values as defaults (App. B)."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class LoraTrainConfig(BaseModel):
    """One object for every training knob.

    Paper defaults: LoRA r 16, alpha 32, dropout 0.05 on all linear layers; 1 epoch;
    AdamW, lr 1e-4, cosine schedule; effective batch 16 (here 4 per step x 4
    accumulation); bf16 (autocast, fp32 LoRA weights) where the hardware supports it;
    loss on the completion tokens only. The fast CPU path (length-grouped micro-batches,
    chunked completion-only loss) is the default; ``batching="fixed"``, ``loss="logits"``,
    ``precision="fp32"`` is the reference path it is checked against.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field("default", description="'default' (SmolLM2-135M-Instruct), a HF id or a local folder.")
    template: Optional[str] = Field(None, description="Prompt template; None: the paper's ft template for exp/context.")
    # LoRA
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA alpha.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout.")
    target_modules: Union[Literal["all-linear"], list[str]] = Field(
        "all-linear", description="Modules that get LoRA weights.")
    # optimisation
    epochs: float = Field(1.0, gt=0, description="Passes over the training examples.")
    max_steps: Optional[int] = Field(None, ge=1, description="Stop after N optimizer steps (overrides epochs).")
    lr: float = Field(1e-4, gt=0, description="Peak learning rate (AdamW).")
    scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="Learning-rate schedule.")
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="Share of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    max_grad_norm: Optional[float] = Field(1.0, gt=0, description="Gradient clipping norm (None: off).")
    per_device_batch_size: int = Field(4, ge=1, description="Examples per micro-batch (fixed batching).")
    grad_accum: int = Field(4, ge=1, description="Micro-batches per optimizer step; the step has "
                            "per_device_batch_size x grad_accum examples.")
    max_seq_len: int = Field(2048, ge=16, description="Longest example in tokens; longer prompts lose their start.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 autocast (frozen base in bf16, LoRA weights fp32) on a bf16 GPU or a CPU "
        "with native bf16 (AVX-512 BF16 / AMX); fp32 otherwise.")
    batching: Literal["length-grouped", "fixed"] = Field(
        "length-grouped", description="length-grouped: each step's examples, longest first, packed into "
        "micro-batches of at most micro_batch_tokens padded tokens; fixed: per_device_batch_size examples each.")
    micro_batch_tokens: int = Field(1024, ge=16, description="length-grouped: padded tokens per micro-batch "
                                    "(bounds activation memory; one longer example still runs alone).")
    loss: Literal["chunked", "logits"] = Field(
        "chunked", description="chunked: project only completion positions onto the vocabulary, "
        "loss_chunk_tokens at a time, recomputed in backward; logits: the model's own logits.")
    loss_chunk_tokens: int = Field(512, ge=1, description="chunked loss: completion positions per chunk.")
    attention: Literal["auto", "eager", "sdpa"] = Field(
        "auto", description="Attention kernel: auto = eager on CPU (at these lengths plain matmuls train "
        "faster than the CPU flash-attention kernel, whose backward is slow), the library default (sdpa) "
        "elsewhere; eager or sdpa to choose.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward (less memory, slower).")
    # bookkeeping
    seed: int = Field(42, description="Seed of the data order, LoRA init and dropout.")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N steps.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept.")
    device: Optional[str] = Field(None, description="cpu, cuda, cuda:1; None: cuda when available, else cpu.")
    num_threads: Optional[int] = Field(None, ge=1, description="torch CPU threads (None: torch's default).")

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_batch_size * self.grad_accum

    def hyperparameters(self) -> dict:
        """What the adapter's simstudent.json records."""
        out = self.model_dump(exclude={"device", "num_threads"})
        out["effective_batch_size"] = self.effective_batch_size
        return out
