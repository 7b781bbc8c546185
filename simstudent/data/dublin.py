"""Importer for the Dublin City University CSV (Koutcheme et al., AIED 2023).

Columns: ``submission_id, func_code, assignment_id, func_name, description, test,
correct, user, ...``. One problem per ``assignment_id`` (36 in the 2015-16 file;
several assignments share a ``func_name``, e.g. ``fibonacci_iter`` and
``fibonacci_recur`` both ask for ``fibonacci``, so ``func_name`` becomes the
problem's ``function_name``, not its id). The problem's instructions are the
``description``; its one test is the ``test`` column as an ``assert`` TestCase.

The file has no timestamps and ``submission_id`` is not chronological, so each
(user, assignment) becomes a stream with ``ordered=False``; its submissions are
sorted by ``submission_id`` only so that loading is deterministic.

The file also holds one row per problem by the pseudo-user ``reference``
(``submission_id`` -1): the reference solution. It is copied into
``Problem.reference_solution``; the rows stay a stream too (as in the source file,
whose published counts include them) unless ``include_reference=False``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Union

from simstudent.data._csv import normalise_newlines, parse_bool, read_csv
from simstudent.data.errors import BadRows, DataError
from simstudent.data.importers import Importer
from simstudent.schema import Dataset, Problem, Provenance, Stream, Submission, TestCase

REQUIRED = ("submission_id", "func_code", "assignment_id", "func_name", "description", "test", "correct", "user")
REFERENCE_USER = "reference"


def detect(path: Path) -> bool:
    """A CSV file whose header has the Dublin columns."""
    path = Path(path)
    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return False
    try:
        with open(path, encoding="utf-8-sig") as handle:
            header = handle.readline(1 << 16)
    except (OSError, UnicodeDecodeError):
        return False
    columns = {c.strip().strip('"') for c in header.strip().split(",")}
    return set(REQUIRED) <= columns


def load(
    path: Union[str, Path],
    *,
    skip_bad_rows: bool = False,
    include_reference: bool = True,
) -> Dataset:
    """Load the Dublin CSV (see the module docstring). Raises :class:`DataError` on
    bad input unless ``skip_bad_rows``."""
    path = Path(path)
    bad = BadRows(skip_bad_rows)
    _, rows = read_csv(path, REQUIRED, bad)

    problems: dict[str, Problem] = {}
    conflicts: Counter[str] = Counter()
    grouped: dict[tuple[str, str], list[tuple[int, int, Submission]]] = defaultdict(list)
    for rec in rows:
        v = rec.values

        def fail(field: str, reason: str) -> None:
            error = DataError(reason, file=path, line=rec.line, row=rec.row, field=field)
            bad.handle(error, f"{path.name}: bad {field}")

        user, assignment = v["user"].strip(), v["assignment_id"].strip()
        if not user:
            fail("user", "empty user")
            continue
        if not assignment:
            fail("assignment_id", "empty assignment_id")
            continue
        try:
            sub_id = int(v["submission_id"].strip())
        except ValueError:
            fail("submission_id", f"submission_id is not an integer: {v['submission_id']!r}")
            continue
        try:
            correct = parse_bool(v["correct"])
        except ValueError as exc:
            fail("correct", str(exc))
            continue
        code = normalise_newlines(v["func_code"])
        problem = problems.get(assignment)
        if problem is None:
            problem = problems[assignment] = Problem(
                id=assignment,
                title=assignment,
                instructions=v["description"].strip(),
                function_name=v["func_name"].strip() or None,
                tests=[TestCase(kind="assert", source=v["test"].strip(), name=f"{assignment}_test")],
                course="dublin",
            )
        elif problem.instructions != v["description"].strip() or problem.tests[0].source != v["test"].strip():
            conflicts[assignment] += 1  # keep the first row's text; report the disagreement
        if user == REFERENCE_USER and problem.reference_solution is None:
            problem.reference_solution = code
        if user == REFERENCE_USER and not include_reference:
            continue
        grouped[(user, assignment)].append(
            (sub_id, rec.row, Submission(code=code, order=0, recorded_correct=correct, event_id=str(sub_id)))
        )

    streams = []
    for (user, assignment), items in grouped.items():
        items.sort(key=lambda item: (item[0], item[1]))
        subs = []
        for i, (_, _, sub) in enumerate(items):
            sub.order = i  # position after sorting by submission_id: NOT chronological
            subs.append(sub)
        streams.append(Stream(student_id=user, problem_id=assignment, submissions=subs, ordered=False))
    streams.sort(key=lambda s: (s.student_id, s.problem_id))

    notes = [
        "no timestamps; submission_id is not chronological: streams are unordered (ordered=False), "
        "sorted by submission_id for determinism only",
    ]
    n_ref = sum(len(s) for s in streams if s.student_id == REFERENCE_USER)
    if include_reference:
        notes.append(f"user {REFERENCE_USER!r} holds reference solutions ({n_ref} rows), kept as a stream "
                     "as in the source")
    else:
        notes.append(f"user {REFERENCE_USER!r} (reference solutions) dropped from streams; "
                     "see Problem.reference_solution")
    for assignment, n in sorted(conflicts.items()):
        notes.append(f"{assignment}: {n} rows disagree with the first row's description/test; first kept")
    provenance = Provenance(
        source=str(path.resolve()),
        format="dublin",
        event_counts={"Submit": sum(len(s) for s in streams)},
        notes=notes,
    )
    bad.record(provenance)
    return Dataset(name=path.stem, streams=streams, problems=dict(sorted(problems.items())), provenance=provenance)


IMPORTER = Importer(
    name="dublin",
    detect=detect,
    load=load,
    description="Dublin CSV (submission_id, func_code, assignment_id, func_name, description, test, correct, user)",
)
