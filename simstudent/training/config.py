"""The LoRA fine-tuning settings, with the seed paper's values as defaults (App. B)."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class LoraTrainConfig(BaseModel):
    """One object for every training knob.

    Paper defaults: LoRA r 16, alpha 32, dropout 0.05 on all linear layers; 1 epoch;
    AdamW, lr 1e-4, cosine schedule; effective batch 16 (here 4 per step x 4
    accumulation); bf16 on a GPU (autocast, fp32 master weights), fp32 on CPU; loss on
    the completion tokens only.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = "default"  # "default" (SmolLM2-135M-Instruct), a HF id or a local folder
    template: Optional[str] = None  # None: the paper's ft template for exp/context
    # LoRA
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: Union[Literal["all-linear"], list[str]] = "all-linear"
    # optimisation
    epochs: float = Field(1.0, gt=0)
    max_steps: Optional[int] = Field(None, ge=1)  # overrides epochs (smoke runs)
    lr: float = Field(1e-4, gt=0)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: Optional[float] = Field(1.0, gt=0)
    per_device_batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(4, ge=1)
    max_seq_len: int = Field(2048, ge=16)
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on a bf16 GPU, else fp32
    gradient_checkpointing: bool = False
    # bookkeeping
    seed: int = 42
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1)
    device: Optional[str] = None  # None: cuda when available, else cpu
    num_threads: Optional[int] = None  # torch CPU threads

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_batch_size * self.grad_accum

    def hyperparameters(self) -> dict:
        """What the adapter's simstudent.json records."""
        out = self.model_dump(exclude={"device", "num_threads"})
        out["effective_batch_size"] = self.effective_batch_size
        return out
