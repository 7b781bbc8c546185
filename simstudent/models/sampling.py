"""Vectorised per-row sampling for the decode loop.

Each row has its own settings and its own ``torch.Generator``; the filters are the usual
ones (top-k, then temperature, top-p keeping the smallest head whose mass reaches top_p,
min-p relative to the most likely token), applied to the top ``max(top_k)`` logits.
A row draws exactly one uniform number per token from its own generator, so its sample
never depends on the other rows. Temperature 0 is greedy.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch


class Sampler:
    """Per-row temperature / top-k / top-p / min-p sampling with per-row generators."""

    def __init__(self, rows: Sequence[Any], vocab: int, device: str) -> None:
        # rows: anything with .data.sampling (SamplingParams) and .generator
        s = [r.data.sampling for r in rows]
        self.greedy = torch.tensor([x.temperature <= 0 for x in s], device=device)
        self.temp = torch.tensor([x.temperature if x.temperature > 0 else 1.0 for x in s], device=device)
        ks = [x.top_k if x.top_k > 0 else vocab for x in s]
        self.kmax = min(max(ks), vocab)
        self.top_k = torch.tensor(ks, device=device)
        self.top_p = torch.tensor([x.top_p for x in s], device=device)
        self.min_p = torch.tensor([x.min_p for x in s], device=device)
        self.generators = [r.generator for r in rows]

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        vals, idx = logits.topk(self.kmax, dim=-1)  # sorted, largest first
        ranks = torch.arange(self.kmax, device=logits.device)
        vals = vals.masked_fill(ranks[None, :] >= self.top_k[:, None], float("-inf"))
        probs = torch.softmax(vals / self.temp[:, None], dim=-1)
        # top-p: keep the smallest head whose mass reaches top_p (the first token always)
        before = probs.cumsum(-1) - probs
        cut = (before >= self.top_p[:, None]) | (probs < self.min_p[:, None] * probs[:, :1])
        cut[:, 0] = False
        probs = probs.masked_fill(cut, 0.0)
        cdf = probs.cumsum(-1)
        u = torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(logits.device)
        choice = (cdf < (u * cdf[:, -1])[:, None]).sum(-1).clamp_(max=self.kmax - 1)
        choice = torch.where(self.greedy, torch.zeros_like(choice), choice)
        return idx.gather(1, choice[:, None]).squeeze(1)
