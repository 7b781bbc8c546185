"""ProgSnap2 importer (e.g. the CSEDM 2019 / ITAP data).

A ProgSnap2 folder holds ``MainTable.csv`` (one row per event) and a code-state
table (``CodeState.csv`` as in ITAP, or the standard ``CodeStates/CodeStates.csv``)
mapping ``CodeStateID`` to source code. Each ``Submit`` event becomes a
:class:`Submission` (code from its code state, ``recorded_correct`` from
``Correct``, ``timestamp`` from ``ServerTimestamp``); events are ordered by the
integer ``Order`` column and grouped into one stream per (SubjectID, ProblemID).
Every other event type (ITAP: ``X-HintRequest``) is counted in
``provenance.event_counts`` and named in ``provenance.notes``, never silently
dropped. Windows line endings in code are normalised to ``\\n``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence, Union

from simstudent.data._csv import normalise_newlines, parse_bool, read_csv
from simstudent.data.errors import BadRows, DataError
from simstudent.data.importers import Importer
from simstudent.schema import Dataset, Problem, Provenance, Stream, Submission

MAIN_TABLE = "MainTable.csv"
CODE_STATE_TABLES = ("CodeStates/CodeStates.csv", "CodeState.csv", "CodeStates.csv")
MAIN_REQUIRED = ("EventType", "Order", "SubjectID", "ProblemID", "CodeStateID")


def detect(path: Path) -> bool:
    """A folder containing ``MainTable.csv`` (or that file itself)."""
    path = Path(path)
    if path.is_dir():
        return (path / MAIN_TABLE).is_file()
    return path.name == MAIN_TABLE


def _root(path: Path) -> Path:
    return path.parent if path.is_file() else path


def _code_table(root: Path) -> Path:
    for rel in CODE_STATE_TABLES:
        if (root / rel).is_file():
            return root / rel
    raise DataError(
        f"no code-state table (looked for {', '.join(CODE_STATE_TABLES)})", file=root
    )


def strip_export_backslash(code: str) -> tuple[str, bool]:
    """Drop one stray backslash that ends the code (after trailing whitespace).

    Some ProgSnap2 exports (the CSEDM 2019 ITAP copy among them: 410 of its 2,801
    submissions) end the code with a lone backslash. A backslash at end of file can never
    be valid Python (a line continuation into nothing), and submissions labelled
    correct pass every test once it is removed, so it is an export artifact, not
    student code. Removing it is counted in the provenance notes.
    """
    stripped = code.rstrip()
    if stripped.endswith("\\") and not stripped.endswith("\\\\"):
        return stripped[:-1], True
    return code, False


def _read_code_states(path: Path, bad: BadRows, repair: bool = True) -> tuple[dict[str, str], int]:
    _, rows = read_csv(path, ("CodeStateID", "Code"), bad)
    codes: dict[str, str] = {}
    repaired = 0
    for rec in rows:
        key = rec.values["CodeStateID"].strip()
        if not key:
            bad.handle(
                DataError("empty CodeStateID", file=path, line=rec.line, row=rec.row, field="CodeStateID"),
                f"{path.name}: empty CodeStateID",
            )
            continue
        if key in codes:
            bad.handle(
                DataError(f"duplicate CodeStateID {key}", file=path, line=rec.line, row=rec.row, field="CodeStateID"),
                f"{path.name}: duplicate CodeStateID",
            )
            continue
        code = normalise_newlines(rec.values["Code"])
        if repair:
            code, fixed = strip_export_backslash(code)
            repaired += fixed
        codes[key] = code
    return codes, repaired


def _parse_timestamp(text: str) -> Optional[datetime]:
    text = text.strip()
    if not text:
        return None
    if text.endswith("Z"):  # fromisoformat only accepts "Z" from Python 3.11
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def load(
    path: Union[str, Path],
    *,
    skip_bad_rows: bool = False,
    submit_events: Sequence[str] = ("Submit",),
    repair_trailing_backslash: bool = True,
) -> Dataset:
    """Load a ProgSnap2 folder into a Dataset (see the module docstring).

    ``submit_events`` lists the EventTypes that count as submissions. Raises
    :class:`DataError` on bad input unless ``skip_bad_rows`` (then bad rows are
    counted in ``provenance.skip_reasons``). ``repair_trailing_backslash`` drops
    the lone backslash some exports leave at the end of the code (see
    :func:`strip_export_backslash`); the number repaired goes into the notes.
    """
    root = _root(Path(path))
    main_path = root / MAIN_TABLE
    bad = BadRows(skip_bad_rows)
    code_table = _code_table(root)
    codes, repaired = _read_code_states(code_table, bad, repair_trailing_backslash)
    code_table_name = code_table.name
    _, rows = read_csv(main_path, MAIN_REQUIRED, bad)

    submit_types = set(submit_events)
    event_counts: Counter[str] = Counter()
    subjects: set[str] = set()
    problem_ids: dict[str, None] = {}  # insertion-ordered set
    # (subject, problem) -> [(order, row, Submission)]
    grouped: dict[tuple[str, str], list[tuple[int, int, Submission]]] = defaultdict(list)

    def fail(rec, field: str, reason: str, key: str) -> None:
        bad.handle(DataError(reason, file=main_path, line=rec.line, row=rec.row, field=field), f"{MAIN_TABLE}: {key}")

    for rec in rows:
        v = rec.values
        event_type = v["EventType"].strip()
        subject = v["SubjectID"].strip()
        problem = v["ProblemID"].strip()
        if event_type not in submit_types:
            # Not a submission: counted and reported, and its subject/problem still exist.
            event_counts[event_type or "(empty)"] += 1
            if subject:
                subjects.add(subject)
            if problem:
                problem_ids.setdefault(problem)
            continue
        if not subject:
            fail(rec, "SubjectID", "empty SubjectID on a submission", "empty SubjectID")
            continue
        if not problem:
            fail(rec, "ProblemID", "empty ProblemID on a submission", "empty ProblemID")
            continue
        try:
            order = int(v["Order"].strip())
        except ValueError:
            fail(rec, "Order", f"Order is not an integer: {v['Order']!r}", "Order not an integer")
            continue
        state = v["CodeStateID"].strip()
        if not state:
            fail(rec, "CodeStateID", "missing CodeStateID on a submission", "missing CodeStateID")
            continue
        if state not in codes:
            reason = f"CodeStateID {state} not found in {code_table_name}"
            fail(rec, "CodeStateID", reason, "CodeStateID not in code-state table")
            continue
        try:
            timestamp = _parse_timestamp(v.get("ServerTimestamp", ""))
        except ValueError:
            fail(rec, "ServerTimestamp", f"not an ISO timestamp: {v['ServerTimestamp']!r}", "bad ServerTimestamp")
            continue
        try:
            correct = parse_bool(v.get("Correct", ""))
        except ValueError as exc:
            fail(rec, "Correct", str(exc), "bad Correct")
            continue
        event_counts[event_type] += 1
        subjects.add(subject)
        problem_ids.setdefault(problem)
        sub = Submission(
            code=codes[state],
            order=order,
            timestamp=timestamp,
            recorded_correct=correct,
            event_id=v.get("EventID", "").strip() or None,
        )
        grouped[(subject, problem)].append((order, rec.row, sub))

    streams = []
    for (subject, problem), items in grouped.items():
        items.sort(key=lambda item: (item[0], item[1]))
        streams.append(Stream(student_id=subject, problem_id=problem, submissions=[s for _, _, s in items]))
    streams.sort(key=lambda s: (s.student_id, s.submissions[0].order, s.problem_id))

    with_streams = {s.student_id for s in streams}
    others = {t: n for t, n in event_counts.items() if t not in submit_types}
    notes = ["ProgSnap2 logs carry no problem statements or tests: problems hold only their id"]
    if repaired:
        notes.append(f"{repaired} code states ended with a stray export backslash; it was removed")
    if others:
        listed = ", ".join(f"{t}: {n}" for t, n in sorted(others.items()))
        kinds = "/".join(sorted(submit_types))
        notes.append(f"events other than {kinds} counted, not turned into submissions ({listed})")
    provenance = Provenance(
        source=str(root.resolve()),
        format="progsnap2",
        event_counts=dict(sorted(event_counts.items())),
        notes=notes,
        students_without_streams=sorted(subjects - with_streams),
    )
    bad.record(provenance)
    problems = {
        pid: Problem(id=pid, title=pid, function_name=pid if pid.isidentifier() else None, course=root.name)
        for pid in sorted(problem_ids)
    }
    return Dataset(name=root.name, streams=streams, problems=problems, provenance=provenance)


IMPORTER = Importer(
    name="progsnap2",
    detect=detect,
    load=load,
    description="ProgSnap2 folder: MainTable.csv + CodeState(s).csv; Submit events become submissions",
)
