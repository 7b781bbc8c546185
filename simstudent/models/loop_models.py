"""Which model the loop decoder runs for each adapter: the model itself, a copy with the
adapter merged into its weights, and on a CPU the lean Llama forward over either."""

from __future__ import annotations

import copy
from typing import Any, Optional

# Adapters kept merged into their own copy of the model, most recently used last.
MERGED_KEEP = 2


class LoopModels:
    """(model, lean forward or None) per adapter, for :class:`simstudent.models.decode.DecodeLoop`.

    With ``merge_adapters``, an adapter runs as a copy of the model with its low-rank
    update added into the weights, built at its first use; the most recent
    ``MERGED_KEEP`` copies are kept (each as large as the base model). Why: peft computes
    each adapted layer as the base layer plus two small matrix products, and on a CPU
    those extra calls cost the default model about a fifth of every prefill and decode
    step. The merged weights are the same function, rounded once more: in bf16 their
    logits are as close to fp32's as the unmerged ones (tests/test_lean_llama.py).
    With ``lean_forward`` (CPU only), a plain Llama model runs through
    :mod:`simstudent.models.lean_llama`; an unmerged adapter never does."""

    def __init__(self, *, merge_adapters: bool, lean_forward: bool, device: str) -> None:
        self.merge_adapters = merge_adapters
        self.lean_forward = lean_forward and device == "cpu"
        self._merged: dict[str, tuple[Any, Any]] = {}
        self._base: Optional[tuple[Any, Any]] = None

    def parts(self, model: Any, adapter: str, peft_name: Optional[str]) -> tuple[Any, Any]:
        """For ``model`` (the backend's, with ``adapter`` active under its peft name
        ``peft_name``, or adapters disabled when ``adapter`` is empty)."""
        from peft import PeftModel

        if adapter and self.merge_adapters:
            if adapter not in self._merged:
                while len(self._merged) >= MERGED_KEEP:
                    self._merged.pop(next(iter(self._merged)))
                merged = copy.deepcopy(model).merge_and_unload(adapter_names=[peft_name]).eval()
                self._merged[adapter] = (merged, self._lean(merged))
            self._merged[adapter] = self._merged.pop(adapter)  # most recently used last
            return self._merged[adapter]
        if adapter and isinstance(model, PeftModel):
            return model, None  # an unmerged adapter: transformers' forward with peft's layers
        if self._base is None or self._base[0] is not model:
            self._base = (model, self._lean(model))  # adapters disabled: the base weights
        return self._base

    def _lean(self, model: Any) -> Any:
        if not self.lean_forward:
            return None
        from simstudent.models.lean_llama import lean_forward_for

        return lean_forward_for(model)
