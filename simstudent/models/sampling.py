"""Vectorised per-row sampling for the decode loop.

Each row has its own settings and its own ``torch.Generator``; the filters are the usual
ones (top-k, then temperature, top-p keeping the smallest head whose mass reaches top_p,
min-p relative to the most likely token). A row draws exactly one uniform number per
token from its own generator and is sampled by one of three rules chosen from its own
settings alone, so its sample never depends on the other rows:

- temperature 0: greedy (the most likely token);
- top-k or top-p set: the ``max(top_k)`` most likely tokens of such rows (every token
  when one of them has top-p without top-k), sorted, filtered, and the uniform number
  inverted through their cumulative distribution;
- neither (temperature and min-p only, e.g. the closed loop's redraws): the whole
  distribution in vocabulary order, min-p applied, inverted the same way. No sort is
  needed: sorting the 49,152 logits of the default model took 5 ms of a 40 ms decode
  step whenever such a row was in the batch.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch


def _invert(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per row, the index where the cumulative distribution of ``probs`` (unnormalised)
    passes ``u`` (in [0, 1)) times its total."""
    cdf = probs.cumsum(-1)
    return (cdf < (u * cdf[:, -1])[:, None]).sum(-1).clamp_(max=probs.shape[1] - 1)


class Sampler:
    """Per-row temperature / top-k / top-p / min-p sampling with per-row generators."""

    def __init__(self, rows: Sequence[Any], vocab: int, device: str) -> None:
        # rows: anything with .data.sampling (SamplingParams) and .generator
        s = [r.data.sampling for r in rows]
        self.greedy = torch.tensor([x.temperature <= 0 for x in s], device=device)
        self.temp = torch.tensor([x.temperature if x.temperature > 0 else 1.0 for x in s], device=device)
        sorted_rows = [x.temperature > 0 and (x.top_k > 0 or x.top_p < 1) for x in s]
        plain_rows = [x.temperature > 0 and not srt for x, srt in zip(s, sorted_rows)]
        self.sorted_idx = torch.tensor([i for i, v in enumerate(sorted_rows) if v], dtype=torch.long, device=device)
        self.plain_idx = torch.tensor([i for i, v in enumerate(plain_rows) if v], dtype=torch.long, device=device)
        ks = [x.top_k if x.top_k > 0 else vocab for x, srt in zip(s, sorted_rows) if srt]
        self.kmax = min(max(ks, default=1), vocab)
        self.top_k = torch.tensor([x.top_k if x.top_k > 0 else vocab for x in s], device=device)
        self.top_p = torch.tensor([x.top_p for x in s], device=device)
        self.min_p = torch.tensor([x.min_p for x in s], device=device)
        self.generators = [r.generator for r in rows]

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        u = torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(logits.device)
        tokens = logits.argmax(-1)  # greedy rows keep this
        if len(self.sorted_idx):
            rows = self.sorted_idx
            vals, idx = logits.index_select(0, rows).topk(self.kmax, dim=-1)  # sorted, largest first
            ranks = torch.arange(self.kmax, device=logits.device)
            vals = vals.masked_fill(ranks[None, :] >= self.top_k[rows, None], float("-inf"))
            probs = torch.softmax(vals / self.temp[rows, None], dim=-1)
            # top-p: keep the smallest head whose mass reaches top_p (the first token always)
            before = probs.cumsum(-1) - probs
            cut = (before >= self.top_p[rows, None]) | (probs < self.min_p[rows, None] * probs[:, :1])
            cut[:, 0] = False
            choice = _invert(probs.masked_fill(cut, 0.0), u[rows])
            tokens[rows] = idx.gather(1, choice[:, None]).squeeze(1)
        if len(self.plain_idx):
            rows = self.plain_idx
            probs = torch.softmax(logits.index_select(0, rows) / self.temp[rows, None], dim=-1)
            top = probs.max(-1, keepdim=True).values
            probs = probs.masked_fill(probs < self.min_p[rows, None] * top, 0.0)
            tokens[rows] = _invert(probs, u[rows])
        return tokens
