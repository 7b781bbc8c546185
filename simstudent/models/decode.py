"""A lean sampling loop over a transformers causal LM with a KV cache.

Why not ``model.generate``: on a CPU, decoding a small model is bound by how often the
weights are read, so the loop must never spend a forward pass on a row that has
finished. Here

- **rows leave when they finish** (EOS, a stop string in the generated text, their own
  token budget) and the KV cache shrinks with them; **waiting requests take their place**
  when there are more requests than ``batch_size`` (prefilled and merged into the cache);
- **each request samples from its own** ``torch.Generator`` seeded with its own seed, so
  the random draws of a request never depend on its batch-mates (see "Exactness");
- **a prefix shared by every request** (system prompt, template header) is prefilled once
  and its cache copied to each row, instead of once per row;
- sampling (temperature, top-k, top-p, min-p) is vectorised per row, so rows with
  different settings share a batch;
- **continuous batching** (:meth:`DecodeLoop.run_continuous`): a callback hands over
  each finished row and returns new requests between decode steps, so a caller that
  turns a result into a next request (a simulated student) never waits for the slowest
  row of a batch;
- **loop stopping** (``SamplingParams.stop_repeats``): a row whose last line or block of
  lines repeats that many times in a row ends with ``finish_reason="repetition"``
  (degenerate text that would otherwise run to its budget).

Layout: every row's cache is ``[shared prefix | padding | own prompt | generated]``;
padding is masked out and positions are explicit per row (RoPE sees the positions the
row would have alone). Columns that no live row uses are dropped.

Exactness: a request's draws (one uniform number per token from its own generator) are
independent of the batch. The logits it is sampled from are computed in batched
arithmetic. In float32 on a CPU they came out bit-identical alone and batched on the
default model (tested). In bfloat16, matrix kernels round differently for different
batch shapes, so a logit can differ in its last bf16 bit and a near-tie between two
tokens can flip: the same requests reproduce exactly (any order, every rerun), but a
request batched with other requests can differ from the same request alone. Use
``dtype="fp32"`` when samples must not depend on batch composition (paired arms).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

from simstudent.models.base import SamplingParams, truncate_at_stop
from simstudent.models.kv_buffer import _buffer_layer_class, _room
from simstudent.models.prefix_store import PrefixStore
from simstudent.metrics.degeneration import repeats_at_end
from simstudent.models.sampling import Sampler

# A shared prefix shorter than this is not worth a separate prefill.
MIN_SHARED_PREFIX = 8
# Drop unused cache columns once at least this share of them is dead.
COMPACT_FRACTION = 0.25


@dataclass
class DecodeItem:
    """One request as the loop sees it."""

    prompt: list[int]
    sampling: SamplingParams
    stops: list[str]
    seed: int
    keep: list[str] = field(default_factory=list)  # end markers kept in the text


@dataclass
class DecodeResult:
    text: str
    tokens: list[int]
    finish_reason: str  # "stop" | "length" | "repetition"
    stop: Optional[str] = None  # the stop string (or kept end marker) that ended it


@dataclass
class _Row:
    item: Any  # the caller's key for this request
    data: DecodeItem
    generator: torch.Generator
    tokens: list[int] = field(default_factory=list)


def common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the longest prefix shared by every sequence."""
    if not seqs:
        return 0
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
    return n


def _end_of(text: str, stops: Sequence[str], keep: Sequence[str]) -> tuple[Optional[str], Optional[str]]:
    """(final text, marker) if ``text`` contains a stop (cut before it) or a kept end
    marker (cut after it), whichever comes first; else (None, None)."""
    best, hit, cut = None, None, None
    for s in stops:
        i = text.find(s)
        if i >= 0 and (best is None or i < best):
            best, hit, cut = i, s, i
    for s in keep:
        i = text.find(s)
        if i >= 0 and (best is None or i < best):
            best, hit, cut = i, s, i + len(s)
    if hit is None:
        return None, None
    return text[:cut], hit


class DecodeLoop:
    """Runs :class:`DecodeItem` s through ``model`` (see the module docstring)."""

    def __init__(self, model: Any, tokenizer: Any, *, eos_ids: Sequence[int], batch_size: int,
                 device: str, share_prefix: bool = True, store: Optional[PrefixStore] = None,
                 lean: Optional[Any] = None) -> None:
        self.model = model
        # simstudent.models.lean_llama.LeanLlama over the model's weights, or None
        self.lean = lean
        self.tokenizer = tokenizer
        self.eos = torch.tensor(sorted(set(eos_ids)), device=device)
        self.eos_set = set(eos_ids)
        self.batch_size = max(1, batch_size)
        self.device = device
        self.share_prefix = share_prefix
        self.store = store  # keys/values of earlier prompts, reused across calls
        self.vocab = model.get_output_embeddings().weight.shape[0]
        # transformers 5 renamed the forward's ``past_key_values`` to ``cache``
        import inspect

        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        params = inspect.signature(type(base).forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self.forward_calls = 0  # counters for benchmarks
        self.prefill_tokens = 0
        self.prefill_s = 0.0
        self.decode_s = 0.0

    # ---------------------------------------------------------------- model calls
    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
                 past: Optional[tuple[list, int]]) -> tuple[torch.Tensor, tuple[list, int]]:
        """One forward pass; ``past`` = (per-layer (key, value) buffers, used length).
        New keys and values are written into the buffers' spare room (no copy of the
        whole cache per step, as concatenating would)."""
        from transformers import DynamicCache

        self.forward_calls += 1
        if self.lean is not None:
            return self.lean(ids, mask, pos, past, self.room)
        layers, length = past if past else (None, 0)
        cache = DynamicCache()
        n_layers = self.model.config.get_text_config().num_hidden_layers
        layer = _buffer_layer_class()
        cache.layers = [layer(layers[i] if layers else None, length, self.room) for i in range(n_layers)]
        # The last position as an index tensor, not ``logits_to_keep=1``: the slice that
        # an int keeps is a strided view, and for it torch's CPU linear copied the whole
        # transposed output embedding (57 ms on the default model) at every prefill.
        last = torch.tensor([ids.shape[1] - 1], device=ids.device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                         logits_to_keep=last, **{self._cache_kw: cache})
        used = cache.layers
        return out.logits[:, -1, :], ([(lay.kbuf, lay.vbuf) for lay in used], used[0].length)

    def _prefill(self, rows: list[_Row], shared: Optional[tuple[int, tuple[list, int], list[int]]]) -> tuple:
        """Prefill ``rows``' prompts, each after the longest prefix whose keys and values
        are known (the prefix every request shares, or a stored earlier prompt), and
        assemble one cache; returns (last logits, cache, mask, next positions).

        Each row is prefilled alone: on a CPU a padded batch of prompts took 1.7x as long
        as the same prompts one by one (12 prompts of ~500 tokens: 13.2 s against 7.6 s
        on the default model; the padding mask keeps attention off its causal fast
        path), and a row alone has no padding to compute. It also makes a row's prompt
        arithmetic independent of its batch-mates."""
        logits, caches = [], []
        for r in rows:
            prompt = r.data.prompt
            p, layers = self.store.lookup(prompt, len(prompt) - 1) if self.store else (0, None)
            if shared and p < shared[0] < len(prompt) and prompt[:shared[0]] == shared[2]:
                p, layers = shared[0], [(k[0], v[0]) for k, v in shared[1][0]]
            past = None
            if p:
                past = ([(_room(self._as_cache(k[None, :, :p]), len(prompt) - p + self.room),
                          _room(self._as_cache(v[None, :, :p]), len(prompt) - p + self.room)) for k, v in layers], p)
            ids = torch.tensor([prompt[p:]], device=self.device)
            pos = torch.arange(p, len(prompt), device=self.device)[None, :]
            self.prefill_tokens += len(prompt) - p
            t0 = time.perf_counter()
            row_logits, cache = self._forward(ids, torch.ones((1, len(prompt)), dtype=torch.long, device=self.device),
                                              pos, past)
            self.prefill_s += time.perf_counter() - t0
            if self.store is not None:
                # kept in the weights' dtype: exact for keys and values computed in it
                self.store.add(prompt, [(self._as_store(k[0, :, :len(prompt)]), self._as_store(v[0, :, :len(prompt)]))
                                        for k, v in cache[0]])
            logits.append(row_logits)
            caches.append(cache)
        cache, mask = self._join([self._one(c) for c in caches]) if len(rows) > 1 else self._one(caches[0])
        return torch.cat(logits), cache, mask, torch.tensor([len(r.data.prompt) for r in rows], device=self.device)

    def _as_cache(self, t: torch.Tensor) -> torch.Tensor:
        """Stored keys/values in the dtype of the running cache."""
        return t.to(self.lean.kv_dtype) if self.lean is not None else t

    def _as_store(self, t: torch.Tensor) -> torch.Tensor:
        """A copy of cached keys/values for the prefix store."""
        return t.to(self.lean.dtype, copy=True) if self.lean is not None else t.clone()

    def _one(self, cache: tuple[list, int]) -> tuple[tuple[list, int], torch.Tensor]:
        """(cache, mask) of a single prefilled row: every column its own."""
        return cache, torch.ones((1, cache[1]), dtype=torch.long, device=self.device)

    def _join(self, parts: list[tuple[tuple[list, int], torch.Tensor]]) -> tuple[tuple[list, int], torch.Tensor]:
        """Several (cache, mask) parts as one, rows in order, each part right-aligned
        (the shorter ones left-padded, the padding masked out)."""
        width = max(length for (_, length), _ in parts)
        mask = torch.cat([torch.nn.functional.pad(m, (width - length, 0)) for (_, length), m in parts])
        layers = []
        for li, (k0, _) in enumerate(parts[0][0][0]):
            pair = []
            for j in (0, 1):
                buf = k0.new_zeros((mask.shape[0], k0.shape[1], width + self.room, k0.shape[3]))
                row = 0
                for (part_layers, length), m in parts:
                    buf[row:row + m.shape[0], :, width - length:width] = part_layers[li][j][:, :, :length]
                    row += m.shape[0]
                pair.append(buf)
            layers.append((pair[0], pair[1]))
        return (layers, width), mask

    def _shared_prefix(self, items: Sequence[DecodeItem]) -> Optional[tuple[int, tuple[list, int], list[int]]]:
        if not self.share_prefix or len(items) < 2:
            return None
        # keep at least one own token per row: its logits start the sampling
        n = min(common_prefix([it.prompt for it in items]), min(len(it.prompt) for it in items) - 1)
        if n < MIN_SHARED_PREFIX:
            return None
        ids = torch.tensor([items[0].prompt[:n]], device=self.device)
        mask = torch.ones_like(ids)
        pos = torch.arange(n, device=self.device)[None, :]
        self.prefill_tokens += n
        _, cache = self._forward(ids, mask, pos, None)
        return n, cache, list(items[0].prompt[:n])

    # ---------------------------------------------------------------- the loop
    def run(self, items: Sequence[DecodeItem]) -> list[DecodeResult]:
        """Results for ``items``, in order."""
        results: dict[int, DecodeResult] = {}

        def collect(done: list[tuple[Any, DecodeResult]]) -> list[tuple[Any, DecodeItem]]:
            results.update(done)
            return []

        self._drive(list(enumerate(items)), collect)
        return [results[i] for i in range(len(items))]

    def run_continuous(self, feed: Callable[[list[tuple[Any, DecodeResult]]], list[tuple[Any, DecodeItem]]]) -> None:
        """Continuous batching: ``feed(finished)`` is called first with ``[]`` and then,
        between decode steps, with the (key, result) pairs of the rows that just ended;
        it returns new (key, item) pairs, which wait for a free row. Ends when no row is
        running, none is waiting and ``feed`` returned nothing new."""
        self._drive(list(feed([])), feed)

    def _drive(self, first: list[tuple[Any, DecodeItem]], feed: Callable) -> None:
        order = sorted(range(len(first)), key=lambda i: -len(first[i][1].prompt))
        waiting = deque(first[i] for i in order)
        # spare cache columns: the longest budget, so rows rarely need a bigger buffer
        self.room = max((it.sampling.max_new_tokens for _, it in first), default=0) + 1
        shared = self._shared_prefix([it for _, it in first])
        rows: list[_Row] = []
        layers: Any = None  # (per-layer (key, value) buffers, used length)
        mask = pos = last = None
        sampler: Optional[Sampler] = None
        self._finished: list[tuple[Any, DecodeResult]] = []
        with torch.inference_mode():
            while True:
                if self._finished:
                    done, self._finished = self._finished, []
                    waiting.extend(feed(done))
                if not (waiting or rows):
                    break
                free = self.batch_size - len(rows)
                if waiting and free > 0:
                    new = []
                    while waiting and len(new) < free:
                        key, item = waiting.popleft()
                        new.append(_Row(key, item, torch.Generator().manual_seed(item.seed)))
                    logits, new_layers, new_mask, new_pos = self._prefill(new, shared)
                    tokens = Sampler(new, self.vocab, self.device)(self._constrain(logits, new))
                    alive = self._advance(new, tokens)
                    if alive:
                        part = self._select(new, new_layers, new_mask, new_pos, tokens, alive)
                        rows, layers, mask, pos, last = self._merge(rows, layers, mask, pos, last, *part)
                        sampler = Sampler(rows, self.vocab, self.device)
                    continue
                step_mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
                t0 = time.perf_counter()
                logits, layers = self._forward(last[:, None], step_mask, pos[:, None], layers)
                self.decode_s += time.perf_counter() - t0
                mask, pos = step_mask, pos + 1
                assert sampler is not None
                last = sampler(self._constrain(logits, rows))
                alive = self._advance(rows, last)
                if len(alive) < len(rows):
                    if alive:
                        rows, layers, mask, pos, last = self._select(rows, layers, mask, pos, last, alive)
                        sampler = Sampler(rows, self.vocab, self.device)
                    else:
                        rows, layers = [], None

    def _constrain(self, logits: torch.Tensor, rows: Sequence[_Row]) -> torch.Tensor:
        """No EOS before a row's ``min_new_tokens``."""
        early = [j for j, r in enumerate(rows) if len(r.tokens) < r.data.sampling.min_new_tokens]
        if early:
            logits = logits.clone()
            rows_idx = torch.tensor(early, device=logits.device)
            logits[rows_idx[:, None], self.eos[None, :]] = float("-inf")
        return logits

    def _advance(self, rows: list[_Row], tokens: torch.Tensor) -> list[int]:
        """Append each row's new token; finish rows that ended (into ``_finished``).
        Returns the live rows."""
        live = []
        for j, (row, tok) in enumerate(zip(rows, tokens.tolist())):
            res = self._finish(row, tok)
            if res is None:
                live.append(j)
            else:
                self._finished.append((row.item, res))
        return live

    def _finish(self, row: _Row, tok: int) -> Optional[DecodeResult]:
        d = row.data
        if tok in self.eos_set:
            text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
            final, hit = _end_of(text, d.stops, d.keep)
            return DecodeResult(final if hit else text, row.tokens, "stop", hit)
        row.tokens.append(tok)
        if d.stops or d.keep:
            text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
            final, hit = _end_of(text, d.stops, d.keep)
            if hit is not None:
                return DecodeResult(final or "", row.tokens, "stop", hit)
        if len(row.tokens) >= d.sampling.max_new_tokens:
            text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
            return DecodeResult(truncate_at_stop(text, d.stops)[0], row.tokens, "length")
        if d.sampling.stop_repeats:
            piece = self.tokenizer.decode([tok], skip_special_tokens=True)
            if "\n" in piece:  # a line just ended: is the text looping?
                text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
                if repeats_at_end(text, d.sampling.stop_repeats):
                    return DecodeResult(truncate_at_stop(text, d.stops)[0], row.tokens, "repetition")
        return None

    # ---------------------------------------------------------------- cache surgery
    def _select(self, rows, cache, mask, pos, last, keep: list[int]):
        """Only the rows ``keep``; cache columns no row uses any more are dropped."""
        idx = torch.tensor(keep, device=self.device)
        layers, length = cache
        rows = [rows[j] for j in keep]
        mask = mask.index_select(0, idx)
        used = mask.bool().any(0)
        dead = int((~used).sum())
        if dead and dead >= COMPACT_FRACTION * mask.shape[1]:
            cols = used.nonzero().squeeze(1)
            mask = mask.index_select(1, cols)
            layers = [(_room(k.index_select(0, idx)[:, :, :length].index_select(2, cols), self.room),
                       _room(v.index_select(0, idx)[:, :, :length].index_select(2, cols), self.room))
                      for k, v in layers]
            length = len(cols)
        else:
            layers = [(k.index_select(0, idx), v.index_select(0, idx)) for k, v in layers]
        return rows, (layers, length), mask, pos.index_select(0, idx), last.index_select(0, idx)

    def _merge(self, rows, cache, mask, pos, last, new, new_cache, new_mask, new_pos, new_last):
        """The running rows and the newly prefilled ones in one cache."""
        if not rows:
            return new, new_cache, new_mask, new_pos, new_last
        cache, mask = self._join([(cache, mask), (new_cache, new_mask)])
        return rows + new, cache, mask, torch.cat([pos, new_pos]), torch.cat([last, new_last])
