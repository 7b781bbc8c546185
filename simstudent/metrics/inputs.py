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


def load_input(path: Union[str, Path], *, skip_bad_rows: bool = False) -> MetricsInput:
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

            return _from_trajectories(path, read_jsonl(path, Trajectory))
        if isinstance(first, dict) and isinstance(first.get("trajectory"), dict):
            return _from_trajectories(path, _read_wrapped(path))
    return MetricsInput(load_dataset(path, skip_bad_rows=skip_bad_rows))


def _from_trajectories(path: Path, trajectories: list[Trajectory]) -> MetricsInput:
    ds = Dataset(name=path.stem, streams=[t.to_stream() for t in trajectories])
    return MetricsInput(ds, trajectories, "trajectories")


def _read_wrapped(path: Path) -> list[Trajectory]:
    """Run-folder records ``{"id", "skipped", "trajectory": {...}}`` (as the rollout
    runner writes them); skipped records are left out."""
    from pydantic import ValidationError

    from simstudent.data.errors import DataError
    from simstudent.data.jsonl import read_jsonl

    out = []
    for lineno, rec in enumerate(read_jsonl(path), start=1):
        if not isinstance(rec, dict) or rec.get("skipped"):
            continue
        try:
            out.append(Trajectory.model_validate(rec.get("trajectory")))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise DataError(f"{err['msg']} (as Trajectory)", file=path, line=lineno,
                            field=f"trajectory.{where}" if where else "trajectory") from None
    return out
