"""Memorisation: how many generated attempts copy a training submission.

Codes are compared after ``normalise_code`` (comments and insignificant whitespace
removed, structure kept). A generated code is

- an *exact* copy when its normalised text equals a training code's;
- a *near* copy (and not exact) when 1 - Levenshtein.ratio(a, b) < 0.05 for some
  training code b, where ratio = 1 - indel distance / (len(a) + len(b)).

Fast path: exact copies by hash; near copies only against training codes whose
length can reach the threshold (indel >= |len(a) - len(b)|, so len(b) must lie in
(len(a)(1-t)/(1+t), len(a)(1+t)/(1-t))), found by bisection in a length-sorted
index, and each comparison uses ``score_cutoff`` to stop early.
"""

from __future__ import annotations

import bisect
from typing import Any, Literal, Optional, Sequence

import Levenshtein

from simstudent.metrics.normalise import normalise_code
from simstudent.errors import ConfigError

CopyKind = Literal["exact", "near"]


class TrainingIndex:
    """The training codes, indexed for exact and near-copy look-ups."""

    def __init__(self, codes: Sequence[str], threshold: float = 0.05) -> None:
        if not 0 <= threshold < 1:
            raise ConfigError(f"near-copy threshold must be in [0, 1), got {threshold}")
        self.threshold = threshold
        norm = sorted(set(normalise_code(c) for c in codes), key=len)
        self._exact = set(norm)
        self._codes = norm
        self._lengths = [len(c) for c in norm]
        self.n_training = len(codes)
        self.n_unique = len(norm)

    def kind(self, code: str) -> Optional[CopyKind]:
        """"exact", "near" or None for one generated code."""
        return self._kind_normalised(normalise_code(code))

    def _kind_normalised(self, a: str) -> Optional[CopyKind]:
        if a in self._exact:
            return "exact"
        t = self.threshold
        if t == 0:
            return None
        la = len(a)
        lo = bisect.bisect_right(self._lengths, la * (1 - t) / (1 + t))
        hi = bisect.bisect_left(self._lengths, la * (1 + t) / (1 - t))
        cutoff = 1 - t
        for b in self._codes[lo:hi]:
            r = Levenshtein.ratio(a, b, score_cutoff=cutoff)
            if r and 1 - r < t:
                return "near"
        return None


def memorisation(generated: Sequence[str], training: Sequence[str] | TrainingIndex,
                 threshold: float = 0.05) -> dict[str, Any]:
    """Shares of generated codes that are exact / near copies of training code."""
    index = training if isinstance(training, TrainingIndex) else TrainingIndex(training, threshold)
    kinds: dict[str, Optional[CopyKind]] = {}
    counts = {"exact": 0, "near": 0}
    for code in generated:
        a = normalise_code(code)
        if a not in kinds:
            kinds[a] = index._kind_normalised(a)
        k = kinds[a]
        if k is not None:
            counts[k] += 1
    n = len(generated)
    share = (lambda c: c / n) if n else (lambda c: float("nan"))
    return {
        "n_generated": n,
        "n_training": index.n_training,
        "threshold": index.threshold,
        "exact": counts["exact"],
        "near": counts["near"],
        "exact_share": share(counts["exact"]),
        "near_share": share(counts["near"]),
        "copy_share": share(counts["exact"] + counts["near"]),
    }
