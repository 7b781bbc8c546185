"""Timestamps for simulated attempts.

A simulated student's attempts get wall-clock timestamps so a trajectory looks like
a real log (and ProgSnap2 exports carry a ``ServerTimestamp``). The gap between two
attempts is drawn either

- from the real inter-submission gaps of a dataset (consecutive submissions of one
  stream that both carry a timestamp), or
- from a documented default: a lognormal with a median of 60 s and log-sd 1.5
  (``DEFAULT_MEDIAN_S``, ``DEFAULT_SIGMA``), chosen to match the ITAP logs' median
  gap of one minute and their long tail (a quarter of gaps are several minutes).

ITAP timestamps are per minute, so its gaps are whole minutes and 43 % are zero.
Sampling from it de-quantises: a recorded gap of k minutes becomes
``60*k + u2 - u1`` seconds with u1, u2 uniform in [0, 60) (the true times lie
anywhere in their minutes), redrawn while below one second.

All sampling takes an explicit ``random.Random`` so callers control the seed.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Sequence, Union

from simstudent.schema import Dataset
from simstudent.errors import InputError, MissingFileError

DEFAULT_MEDIAN_S = 60.0
DEFAULT_SIGMA = 1.5
MIN_GAP_S = 1.0
# Fixed so two runs with one seed give the same timestamps; a date in term time.
DEFAULT_START = datetime(2024, 9, 2, 9, 0, 0, tzinfo=timezone.utc)


def dataset_gaps(dataset: Dataset) -> list[float]:
    """Seconds between consecutive timestamped submissions of each ordered stream."""
    gaps: list[float] = []
    for stream in dataset.streams:
        if not stream.ordered:
            continue
        subs = sorted(stream.submissions, key=lambda s: s.order)
        for prev, cur in zip(subs, subs[1:]):
            if prev.timestamp is None or cur.timestamp is None:
                continue
            gaps.append((cur.timestamp - prev.timestamp).total_seconds())
    return [g for g in gaps if g >= 0]


def _minute_resolution(gaps: Sequence[float]) -> bool:
    return bool(gaps) and all(g % 60 == 0 for g in gaps)


class GapSampler:
    """Draws the seconds between two attempts (see the module docstring)."""

    def __init__(
        self,
        gaps: Optional[Sequence[float]] = None,
        *,
        median_s: float = DEFAULT_MEDIAN_S,
        sigma: float = DEFAULT_SIGMA,
        max_gap_s: Optional[float] = None,
        source: str = "",
    ) -> None:
        self.gaps = list(gaps) if gaps else []
        self.median_s = median_s
        self.sigma = sigma
        self.max_gap_s = max_gap_s
        self.per_minute = _minute_resolution(self.gaps)
        self.source = source or (f"empirical ({len(self.gaps)} gaps)" if self.gaps else
                                 f"lognormal(median={median_s:g}s, sigma={sigma:g})")

    @classmethod
    def from_dataset(cls, data: Union[Dataset, str, Path], **kw: object) -> "GapSampler":
        """Real gaps of a dataset (a loaded Dataset or a path ``load_dataset`` reads).

        Raises :class:`MissingFileError` naming the path when there is nothing there,
        :class:`InputError` when the dataset has no timestamped gaps."""
        if not isinstance(data, Dataset):
            from simstudent.data import load_dataset

            if not Path(data).exists():
                raise MissingFileError(f"--gaps / gap_source {data}: no such file or folder (give a dataset "
                                       "with timestamps, or leave it out for the default lognormal gaps)")
            data = load_dataset(data)
        gaps = dataset_gaps(data)
        if not gaps:
            raise InputError(f"dataset {data.name!r} has no timestamped consecutive submissions")
        return cls(gaps, source=f"dataset:{data.name} ({len(gaps)} gaps)", **kw)  # type: ignore[arg-type]

    def sample(self, rng: random.Random) -> float:
        """One gap in seconds (>= 1 s, <= ``max_gap_s`` when set)."""
        if self.gaps:
            g = rng.choice(self.gaps)
            if self.per_minute:
                for _ in range(20):
                    d = g + rng.uniform(0, 60) - rng.uniform(0, 60)
                    if d >= MIN_GAP_S:
                        break
                g = max(d, MIN_GAP_S)
            gap = max(g, MIN_GAP_S)
        else:
            gap = max(rng.lognormvariate(math.log(self.median_s), self.sigma), MIN_GAP_S)
        if self.max_gap_s is not None:
            gap = min(gap, self.max_gap_s)
        return gap

    def timestamp_after(self, previous: Optional[datetime], rng: random.Random,
                        start: datetime = DEFAULT_START) -> datetime:
        """The next attempt's time: ``start`` plus a gap for the first, else previous
        plus a gap. Rounded to whole milliseconds so JSON round-trips exactly."""
        base = start if previous is None else previous
        t = base + timedelta(seconds=self.sample(rng))
        return t.replace(microsecond=(t.microsecond // 1000) * 1000)
