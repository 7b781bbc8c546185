"""Progress metrics (seed paper Sec. 4.3.4) on normalised steps.

An attempt at position t of an n-attempt stream (n >= 2) has normalised step
t/(n-1) and falls in bin ``min(floor(t * B / (n-1)), B-1)`` of B equal bins (exact
integer arithmetic, so t/(n-1) = 0.6 lands in bin 6 of 10, not 5). One-attempt
streams have no step and are left out. Per bin we report the mean pass rate (both
conventions, and the recorded-correct share where logged), the mean style score,
and the mean Levenshtein distance to the previous attempt (attempts at t = 0 have
none).

Which attempt is "previous": within a stream, the one before it. For generated code
paired by slot (exp2: the model wrote attempt t after seeing the real attempts up
to t-1) it is the real attempt t-1 - the edit the model made to what it was shown.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import Levenshtein

from simstudent.metrics._stats import mean
from simstudent.metrics.items import Item
from simstudent.metrics.normalise import normalise_newlines
from simstudent.schema import Dataset


def step_bin(position: int, length: int, bins: int = 10) -> Optional[int]:
    """The bin of position t in an n-attempt stream; None when n < 2."""
    if length < 2:
        return None
    return min(position * bins // (length - 1), bins - 1)


def previous_codes(items: Sequence[Item], source: Dataset) -> list[Optional[str]]:
    """The code of the attempt before each item in ``source`` (the dataset whose
    streams the items' stream_index/position refer to); None at position 0."""
    out: list[Optional[str]] = []
    for it in items:
        subs = source.streams[it.stream_index].submissions
        out.append(subs[it.position - 1].code if it.position > 0 else None)
    return out


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two codes (newlines normalised)."""
    return Levenshtein.distance(normalise_newlines(a), normalise_newlines(b))


def progress_curve(
    items: Sequence[Item],
    previous: Sequence[Optional[str]],
    scores: Sequence[Optional[float]],
    bins: int = 10,
) -> list[dict[str, Any]]:
    """Per-bin means for one side (real or generated); one dict per bin."""
    buckets: list[list[int]] = [[] for _ in range(bins)]
    for i, it in enumerate(items):
        b = step_bin(it.position, it.length, bins) if it.ordered else None
        if b is not None:
            buckets[b].append(i)
    out = []
    for b, idx in enumerate(buckets):
        grades = [items[i].grade for i in idx]
        edits = [edit_distance(items[i].code, prev) for i in idx if (prev := previous[i]) is not None]
        recorded = [float(items[i].recorded_correct) for i in idx if items[i].recorded_correct is not None]
        out.append({
            "bin": b,
            "step_from": b / bins,
            "step_to": (b + 1) / bins,
            "n": len(idx),
            "pass_rate": {
                "errors_as_zero": mean(g.pass_rate_under("errors_as_zero") for g in grades if g is not None),
                "errors_excluded": mean(g.pass_rate_under("errors_excluded") for g in grades if g is not None),
                "n_graded": sum(g is not None for g in grades),
            },
            "recorded_correct": mean(recorded),
            "style_score": mean(scores[i] for i in idx),
            "edit_distance": mean(edits),
            "n_edits": len(edits),
        })
    return out


def progress_metrics(
    real: Sequence[Item], real_previous: Sequence[Optional[str]], real_scores: Sequence[Optional[float]],
    generated: Sequence[Item], gen_previous: Sequence[Optional[str]], gen_scores: Sequence[Optional[float]],
    bins: int = 10,
) -> dict[str, Any]:
    """Progress curves for both sides, and the mean absolute gap between them over
    the bins where both are defined (a one-number summary of curve alignment)."""
    rc = progress_curve(real, real_previous, real_scores, bins)
    gc = progress_curve(generated, gen_previous, gen_scores, bins)
    gaps: dict[str, float] = {}
    for name, get in (
        ("pass_rate", lambda d: d["pass_rate"]["errors_as_zero"]),
        ("recorded_correct", lambda d: d["recorded_correct"]),
        ("style_score", lambda d: d["style_score"]),
        ("edit_distance", lambda d: d["edit_distance"]),
    ):
        gaps[name] = mean(abs(get(r) - get(g)) for r, g in zip(rc, gc) if get(r) == get(r) and get(g) == get(g))
    return {"bins": bins, "real": rc, "generated": gc, "curve_gap": gaps}
