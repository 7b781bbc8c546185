"""Loading a causal LM + tokenizer the same way for generation and for training.

Both the ``hf`` backend and the LoRA trainer go through these helpers so a prompt is
tokenised identically at training and at sampling time (no special tokens are added
to raw prompts; chat messages go through the tokenizer's chat template).
"""

from __future__ import annotations

from typing import Any, Optional

from simstudent.models.default import resolve_model
from simstudent.errors import ConfigError


def pick_device(device: Optional[str] = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (x86 AVX512-BF16 or AMX-BF16,
    read from /proc/cpuinfo). Elsewhere bf16 matmuls are emulated and slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def pick_dtype(dtype: Optional[str], device: str) -> Any:
    """torch dtype: ``auto`` = bfloat16 on a GPU that supports it or on a CPU with
    native bf16 (:func:`cpu_has_bf16`; decoding reads every weight once per token, so
    half the bytes is nearly half the time), float32 otherwise."""
    import torch

    if dtype in (None, "auto"):
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if device == "cpu" and cpu_has_bf16():
            return torch.bfloat16
        return torch.float32
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    try:
        return table[dtype]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; use auto, bf16, fp16 or fp32") from None


def dtype_name(dtype: Any) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"`` (for records)."""
    return str(dtype).replace("torch.", "")


def set_threads(num_threads: Optional[int]) -> None:
    """Limit torch's CPU threads (the machine is often shared)."""
    if num_threads:
        import torch

        torch.set_num_threads(num_threads)


def quiet_transformers() -> None:
    """Silence transformers' per-load progress bars and advisory warnings."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    # peft asks the model the deprecated name on every adapter load; nothing for users to do.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def load_tokenizer(model_path: str, *, padding_side: str = "left") -> Any:
    """Tokenizer with a pad token (EOS when the model has none) and the padding side
    generation needs (left) or training uses (right)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token_id is None:
        if tok.eos_token is None:
            raise ConfigError(f"tokenizer of {model_path} has neither a pad nor an EOS token")
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_model(model: str, *, device: Optional[str] = None, dtype: Optional[str] = None,
               attn_implementation: Optional[str] = None) -> tuple[Any, str]:
    """(model on its device in eval mode, resolved path or id); ``attn_implementation``
    (eager, sdpa, ...) as transformers names it, None for the library's default."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    path = resolve_model(model)
    dev = pick_device(device)
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(dtype, dev), **extra)
    lm.to(dev)
    lm.eval()
    return lm, path


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of a raw-text prompt, without special tokens added."""
    return list(tokenizer(prompt, add_special_tokens=False)["input_ids"])


def encode_messages(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of chat messages through the tokenizer's chat template, ready for
    the assistant's reply."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("this model's tokenizer has no chat template; use a prompt (ft-*) template instead")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return encode_prompt(tokenizer, text)
