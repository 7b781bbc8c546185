"""The ``vllm`` backend: offline batched generation with vLLM on a GPU, LoRA adapters
served from one base model (``enable_lora=True``).

vLLM is an optional extra (``pip install -e .[gpu]``) and is imported only when this
backend is built. Every request - raw prompt or chat - goes through one
``LLM.generate`` call with a per-request ``SamplingParams`` and ``LoRARequest`` (chat
messages are rendered with the tokenizer's chat template first, because
``LLM.chat`` takes a single LoRA request for the whole batch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from simstudent.models.adapters import adapter_template, resolve_adapter
from simstudent.models.base import Completion, GenerationRequest, SamplingParams, cut_after
from simstudent.models.default import resolve_model
from simstudent.errors import ConfigError


class VLLMBackend:
    """Batched generation through ``vllm.LLM``."""

    name = "vllm"

    def __init__(
        self,
        model: str = "default",
        *,
        adapters: Optional[dict[str, str]] = None,
        max_lora_rank: int = 16,
        max_loras: int = 4,
        enable_lora: bool = True,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: Optional[int] = None,
        dtype: str = "auto",
        seed: Optional[int] = None,
        adapter_root: Optional[Path] = None,
        **llm_kwargs: Any,
    ) -> None:
        try:
            import vllm
            from vllm.lora.request import LoRARequest
        except ImportError as exc:
            raise ImportError(
                "the vllm backend needs vLLM on a CUDA machine: pip install -e '.[gpu]'"
            ) from exc
        self._vllm = vllm
        self._LoRARequest = LoRARequest
        self.model_name = model
        self.model_path = resolve_model(model)
        kwargs: dict[str, Any] = dict(
            model=self.model_path,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            **llm_kwargs,
        )
        if enable_lora:
            kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank, max_loras=max_loras)
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if seed is not None:
            kwargs["seed"] = seed
        self.llm = vllm.LLM(**kwargs)
        self.enable_lora = enable_lora
        self.adapter_root = adapter_root
        self._adapters: dict[str, tuple[int, Path]] = {}
        for name, path in (adapters or {}).items():
            self.add_adapter(name, path)

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Register an adapter folder as ``name``; vLLM loads it on first use."""
        if not self.enable_lora:
            raise ConfigError("this vllm backend was built with enable_lora=False")
        if name not in self._adapters:
            self._adapters[name] = (len(self._adapters) + 1, resolve_adapter(path, self.adapter_root))

    @property
    def adapter_names(self) -> list[str]:
        return sorted(self._adapters)

    def template_for(self, adapter: Optional[str]) -> Optional[str]:
        """The prompt template ``adapter`` was trained with, if it says."""
        if not adapter:
            return None
        self._lora(adapter)
        try:
            return adapter_template(self._adapters[adapter][1])
        except FileNotFoundError:
            return None

    def _lora(self, adapter: Optional[str]) -> Any:
        if not adapter:
            return None
        if adapter not in self._adapters:
            self.add_adapter(adapter, adapter)
        int_id, path = self._adapters[adapter]
        return self._LoRARequest(adapter, int_id, str(path))

    def _sampling(self, req: GenerationRequest) -> Any:
        s: SamplingParams = req.sampling
        return self._vllm.SamplingParams(
            n=1,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k if s.top_k > 0 else -1,  # vLLM: -1 disables top-k
            min_p=s.min_p,
            max_tokens=s.max_new_tokens,
            min_tokens=s.min_new_tokens,
            seed=s.seed,
            stop=list(req.stop) or None,
        )

    def _prompt(self, req: GenerationRequest) -> str:
        # A request's assistant_prefix is appended (after the chat template's
        # generation prompt for chat) and returned at the start of the completion.
        prefix = req.assistant_prefix or ""
        if req.prompt is not None:
            return req.prompt + prefix
        tokenizer = self.llm.get_tokenizer()
        return tokenizer.apply_chat_template(req.messages, tokenize=False, add_generation_prompt=True) + prefix

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Completions for ``requests``, in order (vLLM schedules the batch itself)."""
        if not requests:
            return []
        prompts = [self._prompt(r) for r in requests]
        params = [self._sampling(r) for r in requests]
        loras = [self._lora(r.adapter) for r in requests]
        kwargs: dict[str, Any] = {"use_tqdm": False}
        if any(lr is not None for lr in loras):
            kwargs["lora_request"] = loras
        outputs = self.llm.generate(prompts, params, **kwargs)
        completions = []
        for req, out in zip(requests, outputs):
            first = out.outputs[0]
            reason = first.finish_reason or "stop"
            text, marker = cut_after(first.text, req.stop_after)  # end markers: cut here
            s = req.sampling
            completions.append(
                Completion(
                    text=(req.assistant_prefix or "") + text,
                    finish_reason="stop" if marker or reason != "length" else "length",
                    settings={"backend": self.name, "seed": s.seed, "max_new_tokens": s.max_new_tokens,
                              "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k, "min_p": s.min_p,
                              "stop": list(req.stop), "stop_after": list(req.stop_after), "adapter": req.adapter},
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(first.token_ids or []),
                )
            )
        return completions

    def close(self) -> None:
        """Release the engine."""
        self.llm = None
