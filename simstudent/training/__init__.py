"""Training stage: LoRA supervised fine-tuning on the paper's examples.

``LoraTrainConfig`` holds every knob (the paper's values are the defaults);
``prepare_examples`` turns a dataset into examples + problems; ``train_lora`` runs
the loop and writes an adapter folder. torch/peft load only when training starts.
"""

from __future__ import annotations

from typing import Any

from simstudent.training.config import LoraTrainConfig
from simstudent.training.prepare import PreparedData, prepare_examples


def train_lora(*args: Any, **kwargs: Any) -> Any:
    """See :func:`simstudent.training.lora.train_lora` (imported on first call)."""
    from simstudent.training.lora import train_lora as _train

    return _train(*args, **kwargs)


__all__ = ["LoraTrainConfig", "PreparedData", "prepare_examples", "train_lora"]
