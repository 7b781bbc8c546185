"""The decode loop's per-row sampler: each rule draws from the distribution its settings
define (frequencies against hand-worked probabilities), and a row's draw does not depend
on the rows beside it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

torch = pytest.importorskip("torch")

from simstudent.models.base import SamplingParams  # noqa: E402
from simstudent.models.sampling import Sampler  # noqa: E402

# p = 0.5, 0.3, 0.15, 0.05 over four tokens (given in shuffled vocabulary order)
ORDER = [2, 0, 3, 1]  # token 2 is the most likely, then 0, 3, 1
PROBS = {2: 0.5, 0: 0.3, 3: 0.15, 1: 0.05}
LOGITS = torch.tensor([math.log(PROBS[i]) for i in range(4)])


@dataclass
class _Data:
    sampling: SamplingParams


@dataclass
class _Row:
    data: _Data
    generator: torch.Generator


def rows(settings: list[dict], seed: int = 0) -> list[_Row]:
    return [_Row(_Data(SamplingParams(**s)), torch.Generator().manual_seed(seed + i)) for i, s in enumerate(settings)]


def frequencies(settings: dict, n: int = 20000) -> list[float]:
    sampler = Sampler(rows([settings] * n), vocab=4, device="cpu")
    tokens = sampler(LOGITS.expand(n, 4).clone())
    return [(tokens == t).float().mean().item() for t in range(4)]


@pytest.mark.parametrize("settings, expected", [
    # temperature 1, nothing filtered: the distribution itself
    ({"temperature": 1.0, "top_k": 0, "top_p": 1.0}, {2: 0.5, 0: 0.3, 3: 0.15, 1: 0.05}),
    # min-p 0.2: keep p >= 0.2 * 0.5 = 0.1 -> 0.5, 0.3, 0.15 renormalised by 0.95
    ({"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.2},
     {2: 0.5 / 0.95, 0: 0.3 / 0.95, 3: 0.15 / 0.95, 1: 0}),
    # top-k 2: 0.5, 0.3 renormalised by 0.8
    ({"temperature": 1.0, "top_k": 2, "top_p": 1.0}, {2: 0.625, 0: 0.375, 3: 0, 1: 0}),
    # top-p 0.7: mass before each token 0, 0.5, 0.8 -> the first two are kept
    ({"temperature": 1.0, "top_k": 0, "top_p": 0.7}, {2: 0.625, 0: 0.375, 3: 0, 1: 0}),
    # temperature 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 (sum 0.365)
    ({"temperature": 0.5, "top_k": 0, "top_p": 1.0},
     {2: 0.25 / 0.365, 0: 0.09 / 0.365, 3: 0.0225 / 0.365, 1: 0.0025 / 0.365}),
    # greedy
    ({"temperature": 0.0}, {2: 1.0, 0: 0, 3: 0, 1: 0}),
])
def test_each_rule_samples_its_distribution(settings: dict, expected: dict) -> None:
    got = frequencies(settings)
    for token, p in expected.items():
        assert got[token] == pytest.approx(p, abs=0.015), (token, got)


def test_a_row_draws_the_same_whatever_its_neighbours() -> None:
    """The same row (settings and generator seed) gives the same tokens alone and beside
    rows of the other rules, over many steps."""
    logits = torch.randn(30, 50, generator=torch.Generator().manual_seed(1))
    kinds = [{"temperature": 0.7, "top_k": 20, "top_p": 0.8},
             {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.05},
             {"temperature": 0.9, "top_k": 0, "top_p": 0.9}, {"temperature": 0.0}]
    for i, kind in enumerate(kinds):
        alone = Sampler([_Row(_Data(SamplingParams(**kind)), torch.Generator().manual_seed(7))], 50, "cpu")
        mates = rows(kinds, seed=100)
        mates[i] = _Row(_Data(SamplingParams(**kind)), torch.Generator().manual_seed(7))
        together = Sampler(mates, 50, "cpu")
        for step in range(30):
            row = logits[step][None]
            assert alone(row.clone()).item() == together(row.expand(len(kinds), 50).clone())[i].item(), (kind, step)
