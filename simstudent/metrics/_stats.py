"""Small numeric helpers shared by the metric modules (mean, sd, MAE with missing
values)."""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence


def clean(values: Iterable[Optional[float]]) -> list[float]:
    """The values that are neither None nor NaN."""
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def mean(values: Iterable[Optional[float]]) -> float:
    """Mean of the defined values; NaN when there are none."""
    vals = clean(values)
    return sum(vals) / len(vals) if vals else float("nan")


def sd(values: Iterable[Optional[float]]) -> float:
    """Sample standard deviation (ddof=1, as pandas reports it) of the defined
    values; NaN with fewer than two."""
    vals = clean(values)
    if len(vals) < 2:
        return float("nan")
    m = sum(vals) / len(vals)
    return math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def summary(values: Sequence[Optional[float]]) -> dict[str, float]:
    """{"mean", "sd", "n"} over the defined values."""
    vals = clean(values)
    return {"mean": mean(vals), "sd": sd(vals), "n": len(vals)}


def paired_mae(pairs: Iterable[tuple[Optional[float], Optional[float]]]) -> tuple[float, int]:
    """Mean |a - b| over the pairs where both are defined; (NaN, 0) when none are."""
    diffs = [abs(a - b) for a, b in pairs if clean([a]) and clean([b])]  # type: ignore[operator]
    return (sum(diffs) / len(diffs) if diffs else float("nan")), len(diffs)
