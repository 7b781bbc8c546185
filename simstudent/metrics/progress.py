"""Progress helpers (seed paper Sec. 4.3.4): the edit distance between two
attempts and the ``normalised-bins`` step of an attempt. The curves themselves, and
the default ``median-steps`` x axis, are in ``simstudent.metrics.engine``.

``normalised-bins``: an attempt at position t of an n-attempt stream (n >= 2) has
normalised step t/(n-1) and falls in bin ``min(floor(t * B / (n-1)), B-1)`` of B
equal bins (exact integer arithmetic, so t/(n-1) = 0.6 lands in bin 6 of 10, not 5);
one-attempt streams have none.
"""

from __future__ import annotations

from typing import Optional

import Levenshtein

from simstudent.metrics.normalise import normalise_newlines


def step_bin(position: int, length: int, bins: int = 10) -> Optional[int]:
    """The bin of position t in an n-attempt stream; None when n < 2."""
    if length < 2:
        return None
    return min(position * bins // (length - 1), bins - 1)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two codes (newlines normalised)."""
    return Levenshtein.distance(normalise_newlines(a), normalise_newlines(b))
