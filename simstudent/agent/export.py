"""Export simulated trajectories as data: ProgSnap2 or simstudent's native JSONL.

Both go through :func:`trajectories_to_dataset`, so anything that reads real logs
(the importers, ``simstudent data stats``, the metrics) reads simulated ones too.

ProgSnap2 layout written (the standard's v6 names)::

    DatasetMetadata.csv          Property,Value
    MainTable.csv                EventType,EventID,Order,SubjectID,ToolInstances,
                                 CodeStateID,ServerTimestamp,ProblemID,Correct,Score,
                                 X-ErrorType,X-Submitted,X-StopReason
    CodeStates/CodeStates.csv    CodeStateID,Code

One ``Submit`` event per attempt. ``Correct`` is TRUE when simstudent's grader found
no error, ``Score`` the pass rate (errors count as 0), ``Order`` a global integer
(students, then problems in trajectory order, then attempts). Identical code shares
one CodeStateID.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable, Optional, Union

from simstudent.schema import Dataset, Problem, Provenance, Trajectory

MAIN_COLUMNS = ["EventType", "EventID", "Order", "SubjectID", "ToolInstances", "CodeStateID",
                "ServerTimestamp", "ProblemID", "Correct", "Score", "X-ErrorType", "X-Submitted",
                "X-StopReason"]
TOOL = "simstudent"


def trajectories_to_dataset(trajectories: Iterable[Trajectory], problems: Optional[dict[str, Problem]] = None,
                            name: str = "simulated") -> Dataset:
    """One Stream per trajectory (``Trajectory.to_stream``), plus the problems."""
    trajs = list(trajectories)
    used = {t.problem_id for t in trajs}
    probs = {pid: p for pid, p in (problems or {}).items() if pid in used}
    stops: dict[str, int] = {}
    for t in trajs:
        stops[str(t.stop_reason)] = stops.get(str(t.stop_reason), 0) + 1
    provenance = Provenance(
        source="simstudent simulation", format="simulated",
        event_counts={"Submit": sum(len(t.attempts) for t in trajs)},
        notes=[f"stop reasons: {', '.join(f'{k} {v}' for k, v in sorted(stops.items()))}"],
    )
    return Dataset(name=name, streams=[t.to_stream() for t in trajs], problems=probs, provenance=provenance)


def _write_csv(path: Path, header: list[str], rows: Iterable[list[object]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def export_progsnap2(trajectories: Iterable[Trajectory], out_dir: Union[str, Path]) -> Path:
    """Write trajectories as a ProgSnap2 folder (see the module docstring)."""
    out = Path(out_dir)
    (out / "CodeStates").mkdir(parents=True, exist_ok=True)
    trajs = sorted(trajectories, key=lambda t: t.student_id)  # stable: keeps problem order per student
    code_ids: dict[str, int] = {}
    rows: list[list[object]] = []
    order = 0
    for traj in trajs:
        for att in traj.attempts:
            order += 1
            cid = code_ids.setdefault(att.code, len(code_ids) + 1)
            grade = att.grade
            rows.append([
                "Submit", f"e{order}", order, traj.student_id, TOOL, cid,
                att.timestamp.isoformat() if att.timestamp else "", traj.problem_id,
                "" if grade is None else ("TRUE" if grade.error_type == "no_error" else "FALSE"),
                "" if grade is None else f"{grade.pass_rate:.6g}",
                "" if grade is None else grade.error_type,
                "TRUE" if att.submitted else "FALSE",
                (traj.stop_reason or "") if att.index == len(traj.attempts) - 1 else "",
            ])
    _write_csv(out / "MainTable.csv", MAIN_COLUMNS, rows)
    _write_csv(out / "CodeStates" / "CodeStates.csv", ["CodeStateID", "Code"],
               ([cid, code] for code, cid in code_ids.items()))
    _write_csv(out / "DatasetMetadata.csv", ["Property", "Value"], [
        ["Version", "6.0"], ["IsEventOrderingConsistent", "true"], ["EventOrderScope", "Global"],
        ["EventOrderScopeColumns", ""], ["CodeStateRepresentation", "Table"],
    ])
    return out


def export_jsonl(trajectories: Iterable[Trajectory], path: Union[str, Path],
                 problems: Optional[dict[str, Problem]] = None, name: str = "simulated") -> Path:
    """Write trajectories as a native simstudent JSONL dataset."""
    from simstudent.data.jsonl import write_dataset

    return write_dataset(trajectories_to_dataset(trajectories, problems, name), path)
