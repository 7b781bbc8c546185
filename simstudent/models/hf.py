"""The ``hf`` backend: transformers (+ peft for LoRA adapters), CPU or GPU.

Two decoders:

- ``decoder="loop"`` (default): :mod:`simstudent.models.decode`, a lean loop with a KV
  cache. Requests are grouped by adapter only; rows leave the batch as they finish (EOS,
  a stop string, their budget) and waiting requests take their place; a prefix shared by
  every request is prefilled once, and a prompt that starts like a recent one reuses its
  keys and values (``prefix_store_tokens``); each request samples from its own seed. An
  adapter runs merged into a copy of the model (``merge_adapters``, default on a CPU), and
  on a CPU a plain Llama runs the lean forward (``lean_forward``,
  :mod:`simstudent.models.lean_llama`).
- ``decoder="generate"``: transformers' ``generate``, as earlier versions did. Requests
  are grouped by (adapter, sampling settings, stop strings) and run in left-padded
  batches of ``batch_size``; a sub-batch is seeded with its first request's seed, so one
  request's sample can change with its batch-mates.

Several adapters share one base model: each is loaded once under its own name and
activated per group; requests without an adapter run with adapters disabled.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from simstudent.errors import ConfigError
from simstudent.models.adapters import adapter_template, resolve_adapter
from simstudent.models.attention import register as register_attention
from simstudent.models.base import Completion, GenerationRequest, SamplingParams, cut_after, truncate_at_stop
from simstudent.models.loop_models import LoopModels
from simstudent.models.prefix_store import DEFAULT_MAX_TOKENS
from simstudent.models.loading import (
    dtype_name,
    encode_messages,
    encode_prompt,
    load_model,
    load_tokenizer,
    pick_device,
    set_threads,
)

DECODERS = ("loop", "generate")


def request_seed(req: GenerationRequest, backend_seed: Optional[int], prompt_ids: Sequence[int]) -> int:
    """The seed a request samples with: its own; else one derived from the backend's
    seed and the prompt (so it does not depend on the batch); else a fresh random one."""
    if req.sampling.seed is not None:
        return int(req.sampling.seed) & 0xFFFFFFFFFFFFFFFF
    if backend_seed is not None:
        import hashlib

        digest = hashlib.sha256(f"{backend_seed}:{list(prompt_ids)}:{req.adapter or ''}".encode()).digest()
        return int.from_bytes(digest[:8], "big") >> 1
    import random

    return random.SystemRandom().getrandbits(63)


def _group_key(req: GenerationRequest) -> tuple:
    # Everything but the seed must match for requests to share a generate() call.
    s = req.sampling
    sampling = (s.temperature, s.top_p, s.top_k, s.min_p, s.max_new_tokens, s.min_new_tokens)
    return (req.adapter or "", sampling, tuple(req.stop), tuple(req.stop_after))


def _stop_on_generated_text(tokenizer: Any, stops: Sequence[str], start: int) -> Any:
    """A stopping criterion that ends a row once its *generated* text contains a stop
    string. (transformers' own ``stop_strings`` also match across the end of the
    prompt, unlike vLLM and OpenAI servers, so it is not used.)"""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    window = max(len(s) for s in stops) + 4  # tokens; a token holds at least one character

    class StopOnText(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            tails = input_ids[:, start:][:, -window:].tolist()
            hit = [any(s in tokenizer.decode(t, skip_special_tokens=True) for s in stops) for t in tails]
            return torch.tensor(hit, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnText()])


class HFBackend:
    """Batched generation with a transformers causal LM and optional LoRA adapters."""

    name = "hf"

    def __init__(
        self,
        model: str = "default",
        *,
        adapters: Optional[dict[str, str]] = None,
        device: Optional[str] = None,
        dtype: Optional[str] = "auto",
        batch_size: int = 16,
        num_threads: Optional[int] = None,
        seed: Optional[int] = None,
        adapter_root: Optional[Path] = None,
        decoder: str = "loop",
        share_prefix: bool = True,
        prefix_store_tokens: int = DEFAULT_MAX_TOKENS,
        merge_adapters: Optional[bool] = None,
        lean_forward: bool = True,
    ) -> None:
        if decoder not in DECODERS:
            raise ConfigError(f"unknown decoder {decoder!r}; use one of {', '.join(DECODERS)}")
        set_threads(num_threads)
        self.model_name = model
        self.decoder = decoder
        self.share_prefix = share_prefix
        # loop decoder: keys/values of recent prompts per adapter, reused by later prompts
        # that start the same way (0 = off)
        self.prefix_store_tokens = prefix_store_tokens
        self._stores: dict[str, Any] = {}
        # the loop decoder on a CPU: decode steps attend with grouped queries (models/attention.py)
        attention = register_attention() if decoder == "loop" and pick_device(device) == "cpu" else None
        self.model, self.model_path = load_model(model, device=device, dtype=dtype, attn_implementation=attention)
        self.dtype = dtype_name(next(self.model.parameters()).dtype)

        self.tokenizer = load_tokenizer(self.model_path, padding_side="left")
        self.device = str(next(self.model.parameters()).device)
        # loop decoder: adapters merged into a copy of the model (default: on a CPU only, where
        # the copy is cheap and peft's extra products cost most), a lean forward on a CPU
        merge = merge_adapters if merge_adapters is not None else self.device == "cpu"
        self._loop_models = LoopModels(merge_adapters=merge, lean_forward=lean_forward, device=self.device)
        self.batch_size = max(1, batch_size)
        self.seed = seed
        self.adapter_root = adapter_root
        self._adapter_paths: dict[str, Path] = {}
        # peft names adapters by module-dict keys, which may not contain "." - so each
        # adapter gets an internal name; users keep theirs (a name or a folder path).
        self._peft_names: dict[str, str] = {}
        for name, path in (adapters or {}).items():
            self.add_adapter(name, path)
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        eos_ids.add(self.tokenizer.eos_token_id)
        self._eos_ids = sorted(i for i in eos_ids if i is not None)

    # ------------------------------------------------------------------ adapters

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Make an adapter folder available as ``name`` (loaded at first use)."""
        self._adapter_paths[name] = resolve_adapter(path, self.adapter_root)

    @property
    def adapter_names(self) -> list[str]:
        return sorted(self._adapter_paths)

    @property
    def loaded_adapters(self) -> list[str]:
        """Adapters already loaded onto the base model."""
        return sorted(self._peft_names)

    def template_for(self, adapter: Optional[str]) -> Optional[str]:
        """The prompt template ``adapter`` was trained with (None for the base model
        or an adapter without simstudent.json)."""
        if not adapter:
            return None
        self._ensure_known(adapter)
        try:
            return adapter_template(self._adapter_paths[adapter])
        except FileNotFoundError:
            return None

    def _ensure_known(self, adapter: str) -> None:
        if adapter not in self._adapter_paths:
            # Not registered by name: treat it as a folder (or a name under adapters/).
            self.add_adapter(adapter, adapter)

    def _activate(self, adapter: str) -> None:
        from peft import PeftModel

        self._ensure_known(adapter)
        path = str(self._adapter_paths[adapter])
        if adapter not in self._peft_names:
            internal = f"adapter_{len(self._peft_names)}"
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(path, adapter_name=internal)
            else:
                self.model = PeftModel.from_pretrained(self.model, path, adapter_name=internal)
            self.model.eval()
            self._peft_names[adapter] = internal
        self.model.set_adapter(self._peft_names[adapter])

    @contextlib.contextmanager
    def _adapter_scope(self, adapter: str) -> Iterator[None]:
        from peft import PeftModel

        if adapter:
            self._activate(adapter)
            yield
        elif isinstance(self.model, PeftModel):
            with self.model.disable_adapter():
                yield
        else:
            yield

    # ------------------------------------------------------------------ generation

    def _encode(self, req: GenerationRequest) -> list[int]:
        prefix = req.assistant_prefix or ""
        if req.prompt is not None:
            return encode_prompt(self.tokenizer, req.prompt + prefix)
        ids = encode_messages(self.tokenizer, req.messages or [])
        # The prefix goes right after the template's generation prompt (the assistant
        # turn's header), so the model continues an answer that already began.
        return ids + encode_prompt(self.tokenizer, prefix) if prefix else ids

    def _generation_config(self, s: SamplingParams, stops: Sequence[str]) -> Any:
        from transformers import GenerationConfig

        sample = s.temperature > 0
        return GenerationConfig(
            do_sample=sample,
            temperature=s.temperature if sample else None,
            top_k=s.top_k if sample and s.top_k > 0 else None,
            top_p=s.top_p if sample and s.top_p < 1 else None,
            min_p=s.min_p if sample and s.min_p > 0 else None,
            max_new_tokens=s.max_new_tokens,
            min_new_tokens=s.min_new_tokens or None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self._eos_ids,
        )

    def settings_of(self, req: GenerationRequest, seed: Optional[int]) -> dict[str, Any]:
        """What a completion ran with (stored with each attempt). ``stop_repeats`` is
        what was applied: the ``generate`` decoder does not cut loops, so it records 0."""
        s = req.sampling
        return {"backend": self.name, "decoder": self.decoder, "dtype": self.dtype, "seed": seed,
                "max_new_tokens": s.max_new_tokens, "temperature": s.temperature, "top_p": s.top_p,
                "top_k": s.top_k, "min_p": s.min_p, "stop": list(req.stop), "stop_after": list(req.stop_after),
                "stop_repeats": s.stop_repeats if self.decoder == "loop" else 0, "adapter": req.adapter}

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        """Completions for ``requests``, in order."""
        if self.decoder == "loop":
            return self._generate_loop(requests)
        return self._generate_hf(requests)

    def _generate_loop(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        results: dict[int, Completion] = {}

        def feed(done: list[tuple[Any, Completion]]) -> list[tuple[Any, GenerationRequest]]:
            results.update(done)
            return []

        self._continuous(list(enumerate(requests)), feed, batch_first=True)
        return [results[i] for i in range(len(requests))]

    @property
    def supports_continuous(self) -> bool:
        """Whether :meth:`generate_continuous` works (the loop decoder)."""
        return self.decoder == "loop"

    def generate_continuous(self, feed: Any) -> None:
        """Continuous batching (loop decoder): ``feed(finished)`` is called first with
        ``[]``, then between decode steps with the (key, Completion) pairs that just
        finished, and returns new (key, GenerationRequest) pairs; they join the running
        batch as rows free up. Returns when nothing runs, waits or comes back from
        ``feed``. Requests for another adapter than the running one wait until it ends.
        Each completion's ``settings`` has ``"batching": "continuous"``."""
        if self.decoder != "loop":
            raise ValueError("continuous batching needs decoder='loop'")
        self._continuous(list(feed([])), feed, batch_first=False)

    def _continuous(self, first: list[tuple[Any, GenerationRequest]], feed: Any, *, batch_first: bool) -> None:
        from simstudent.models.decode import DecodeItem, DecodeLoop

        later: list[tuple[Any, GenerationRequest]] = list(first)
        while later:
            adapter = later[0][1].adapter or ""
            mine = [(k, r) for k, r in later if (r.adapter or "") == adapter]
            later = [(k, r) for k, r in later if (r.adapter or "") != adapter]
            meta: dict[Any, tuple[GenerationRequest, int, int]] = {}
            ran: dict[str, Any] = {}  # how the loop runs this adapter (recorded per completion)

            def to_items(pairs: list[tuple[Any, GenerationRequest]]) -> list[tuple[Any, DecodeItem]]:
                items = []
                for key, r in pairs:
                    if (r.adapter or "") != adapter:
                        later.append((key, r))
                        continue
                    ids = self._encode(r)
                    seed = request_seed(r, self.seed, ids)
                    meta[key] = (r, seed, len(ids))
                    items.append((key, DecodeItem(prompt=ids, sampling=r.sampling, seed=seed,
                                                  stops=[s for s in r.stop if s],
                                                  keep=[s for s in r.stop_after if s])))
                return items

            def decoded(done: list[tuple[Any, Any]]) -> list[tuple[Any, DecodeItem]]:
                out = []
                for key, res in done:
                    r, seed, n_prompt = meta.pop(key)
                    settings = {**self.settings_of(r, seed), **ran}
                    if not batch_first:
                        settings["batching"] = "continuous"
                    reason = res.finish_reason
                    if reason == "repetition":  # truncated: the text was cut, not finished
                        settings["cut"], reason = "repetition", "length"
                    out.append((key, Completion(text=(r.assistant_prefix or "") + res.text, finish_reason=reason,
                                                prompt_tokens=n_prompt, completion_tokens=len(res.tokens),
                                                settings=settings)))
                return to_items(feed(out))

            with self._adapter_scope(adapter):
                store = None
                if self.prefix_store_tokens > 0:
                    from simstudent.models.prefix_store import PrefixStore

                    store = self._stores.setdefault(adapter, PrefixStore(self.prefix_store_tokens))
                model, lean = self._loop_models.parts(self.model, adapter, self._peft_names.get(adapter))
                ran["forward"] = "lean" if lean is not None else "transformers"
                ran["adapter_merged"] = bool(adapter) and model is not self.model
                loop = DecodeLoop(model, self.tokenizer, eos_ids=self._eos_ids, batch_size=self.batch_size,
                                  device=self.device, share_prefix=self.share_prefix, store=store, lean=lean)
                start = to_items(mine)
                loop.run_continuous(lambda done: decoded(done) if done else start)

    def _generate_hf(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        encoded = [self._encode(r) for r in requests]
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(_group_key(r), []).append(i)
        results: list[Optional[Completion]] = [None] * len(requests)
        for (adapter, _, stops, _), idx in groups.items():
            idx.sort(key=lambda i: -len(encoded[i]))
            with self._adapter_scope(adapter):
                for start in range(0, len(idx), self.batch_size):
                    chunk = idx[start:start + self.batch_size]
                    outs = self._run_batch([encoded[i] for i in chunk], requests[chunk[0]], list(stops))
                    for i, c in zip(chunk, outs):
                        # Return the primed start too, so parsing sees the whole answer.
                        c.text = (requests[i].assistant_prefix or "") + c.text
                        results[i] = c
        return [c for c in results if c is not None]

    def _run_batch(self, batch: list[list[int]], first: GenerationRequest, stops: list[str]) -> list[Completion]:
        import torch

        stops = [s for s in stops if s]
        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=self.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=self.device)
        seed = first.sampling.seed if first.sampling.seed is not None else self.seed
        if seed is not None:
            torch.manual_seed(seed)
        config = self._generation_config(first.sampling, stops)
        criteria = _stop_on_generated_text(self.tokenizer, stops, width) if stops else None
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                generation_config=config,
                stopping_criteria=criteria,
            )
        done = set(self._eos_ids) | {pad}
        completions = []
        for row, ids in zip(out[:, width:].tolist(), batch):
            n = next((j for j, t in enumerate(row) if t in done), len(row))
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True)
            text, hit = truncate_at_stop(text, stops)
            if first.stop_after:
                text, after = cut_after(text, first.stop_after)
                hit = hit or after
            ended = n < len(row) or hit is not None or n < first.sampling.max_new_tokens
            completions.append(
                Completion(
                    text=text,
                    finish_reason="stop" if ended else "length",
                    prompt_tokens=len(ids),
                    completion_tokens=n,
                    settings=self.settings_of(first, seed),
                )
            )
        return completions

    def close(self) -> None:
        """Drop the model (frees memory on a GPU)."""
        self.model = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
