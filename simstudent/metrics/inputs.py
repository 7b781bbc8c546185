"""Read the inputs of a metrics run: a dataset (any format ``load_dataset`` knows)
or a JSONL file of ``Trajectory`` records (simulated streams)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from simstudent.schema import Dataset, Trajectory


@dataclass
class MetricsInput:
    """One side of a comparison: its streams as a Dataset, plus the trajectories
    they came from when the file held trajectories (needed for rollout metrics)."""

    dataset: Dataset
    trajectories: list[Trajectory] = field(default_factory=list)
    kind: str = "dataset"  # or "trajectories"


def _first_record(path: Path) -> object:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                try:
                    return json.loads(line)
                except ValueError:
                    return None
    return None


def load_input(path: Union[str, Path]) -> MetricsInput:
    """A dataset (ProgSnap2 folder, Dublin CSV, native JSONL) or a trajectories JSONL
    (detected by an ``attempts`` field on the first record)."""
    from simstudent.data import load_dataset
    from simstudent.data.errors import DataError

    path = Path(path)
    if not path.exists():
        raise DataError("no such file or directory", file=path)
    if path.is_file() and path.suffix == ".jsonl":
        first = _first_record(path)
        if isinstance(first, dict) and "attempts" in first:
            from simstudent.data.jsonl import read_jsonl

            trajectories = read_jsonl(path, Trajectory)
            ds = Dataset(name=path.stem, streams=[t.to_stream() for t in trajectories])
            return MetricsInput(ds, trajectories, "trajectories")
    return MetricsInput(load_dataset(path))
