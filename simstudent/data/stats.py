"""Summary numbers of a Dataset: what ``simstudent data stats`` prints."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from simstudent.schema import Dataset

# Stream-length histogram buckets: (label, lowest length, highest length or None).
LENGTH_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-5", 3, 5),
    ("6-10", 6, 10),
    ("11-20", 11, 20),
    ("21-50", 21, 50),
    ("51+", 51, None),
)


class LengthStats(BaseModel):
    """Distribution of submissions per stream."""

    min: int = 0
    median: float = 0.0
    mean: float = 0.0
    max: int = 0
    histogram: dict[str, int] = Field(default_factory=dict)
    at_least: dict[str, int] = Field(default_factory=dict)  # "2" -> streams with >= 2 submissions


class DatasetStats(BaseModel):
    """The counts ``simstudent data stats`` reports.

    ``students`` counts every student the source logged, including those with no
    submission (``students_with_submissions`` excludes them); ``problems`` counts
    every problem the dataset knows, with or without streams.
    """

    name: str
    source: str
    format: str
    students: int
    students_with_submissions: int
    problems: int
    problems_with_submissions: int
    submissions: int
    streams: int
    ordered_streams: int
    stream_length: LengthStats
    events_by_type: dict[str, int]
    recorded_correct: dict[str, int]  # "true" / "false" / "unknown"
    skipped_rows: int
    skip_reasons: dict[str, int]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def length_stats(lengths: list[int]) -> LengthStats:
    """min / median / mean / max, bucketed histogram and >=2 / >=3 counts."""
    if not lengths:
        return LengthStats(histogram={label: 0 for label, _, _ in LENGTH_BUCKETS}, at_least={"2": 0, "3": 0})
    histogram = {}
    for label, low, high in LENGTH_BUCKETS:
        histogram[label] = sum(1 for n in lengths if n >= low and (high is None or n <= high))
    return LengthStats(
        min=min(lengths),
        median=float(statistics.median(lengths)),
        mean=round(statistics.fmean(lengths), 3),
        max=max(lengths),
        histogram=histogram,
        at_least={str(k): sum(1 for n in lengths if n >= k) for k in (2, 3)},
    )


def compute_stats(dataset: Dataset) -> DatasetStats:
    """Count students, problems, submissions, streams, events and skipped rows."""
    prov = dataset.provenance
    with_subs = set(dataset.students)
    verdicts: Counter[str] = Counter()
    for stream in dataset.streams:
        for sub in stream.submissions:
            verdicts["unknown" if sub.recorded_correct is None else str(sub.recorded_correct).lower()] += 1
    events = dict(prov.event_counts) or {"Submit": dataset.n_submissions}
    return DatasetStats(
        name=dataset.name,
        source=prov.source,
        format=prov.format,
        students=len(with_subs | set(prov.students_without_streams)),
        students_with_submissions=len(with_subs),
        problems=len(dataset.problem_ids),
        problems_with_submissions=len({s.problem_id for s in dataset.streams if s.submissions}),
        submissions=dataset.n_submissions,
        streams=len(dataset.streams),
        ordered_streams=sum(1 for s in dataset.streams if s.ordered),
        stream_length=length_stats([len(s) for s in dataset.streams]),
        events_by_type=events,
        recorded_correct={k: verdicts.get(k, 0) for k in ("true", "false", "unknown")},
        skipped_rows=prov.skipped_rows,
        skip_reasons=dict(prov.skip_reasons),
        notes=list(prov.notes),
    )
