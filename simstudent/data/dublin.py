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

The importer never guesses which test a row is graded by. When rows of one
assignment carry different ``test`` texts (two course offerings merged into one
file), loading stops with a :class:`DataError` that counts the rows of each test,
unless ``mixed_tests="split"`` (``--mixed-tests split``): then each distinct test
becomes its own problem, ``<assignment>@test1``, ``@test2``, ... in order of first
appearance, and every row is graded against its own test. A row with an empty
``user`` gets the stable synthetic id ``anonymous-<submission_id>`` (reported in the
provenance notes).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Literal, Union

from simstudent.data._csv import normalise_newlines, parse_bool, read_csv
from simstudent.data.errors import BadRows, DataError
from simstudent.data.importers import Importer
from simstudent.schema import Dataset, Problem, Provenance, Stream, Submission, TestCase

REQUIRED = ("submission_id", "func_code", "assignment_id", "func_name", "description", "test", "correct", "user")
REFERENCE_USER = "reference"
ANONYMOUS_PREFIX = "anonymous-"
MixedTests = Literal["error", "split"]
MIXED_TESTS_FLAG = "--mixed-tests split"


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
    mixed_tests: MixedTests = "error",
) -> Dataset:
    """Load the Dublin CSV (see the module docstring). Raises :class:`DataError` on
    bad input unless ``skip_bad_rows``, and when one assignment's rows carry
    different tests unless ``mixed_tests="split"``."""
    path = Path(path)
    if mixed_tests not in ("error", "split"):
        raise DataError(f"mixed_tests must be 'error' or 'split', not {mixed_tests!r}", file=path)
    bad = BadRows(skip_bad_rows)
    _, records = read_csv(path, REQUIRED, bad)
    rows = list(records)  # read twice: once for the tests of each assignment, once to load
    variants = _test_variants(rows)
    mixed = {a: tests for a, tests in variants.items() if len(tests) > 1}
    if mixed and mixed_tests == "error":
        first = sorted(mixed)[0]
        counts = ", ".join(f"{n} rows with test {i + 1} ({_short(text)})" for i, (text, n) in enumerate(mixed[first].items()))
        raise DataError(
            f"{len(mixed)} assignment(s) have rows with different tests (e.g. {first!r}: {counts}); "
            f"the importer will not pick one: pass {MIXED_TESTS_FLAG} (mixed_tests='split') to make one problem "
            f"per test ({first}@test1, {first}@test2, ...)", file=path, field="test")
    anonymous = 0

    problems: dict[str, Problem] = {}
    conflicts: Counter[str] = Counter()
    grouped: dict[tuple[str, str], list[tuple[int, int, Submission]]] = defaultdict(list)
    for rec in rows:
        v = rec.values

        def fail(field: str, reason: str) -> None:
            error = DataError(reason, file=path, line=rec.line, row=rec.row, field=field)
            bad.handle(error, f"{path.name}: bad {field}")

        user, assignment = v["user"].strip(), v["assignment_id"].strip()
        if not assignment:
            fail("assignment_id", "empty assignment_id")
            continue
        try:
            sub_id = int(v["submission_id"].strip())
        except ValueError:
            fail("submission_id", f"submission_id is not an integer: {v['submission_id']!r}")
            continue
        if not user:  # one anonymous author per row: a stable id, never merged with another row
            user = f"{ANONYMOUS_PREFIX}{sub_id}"
            anonymous += 1
        test_text = v["test"].strip()
        if assignment in mixed:
            assignment = f"{assignment}@test{list(mixed[assignment]).index(test_text) + 1}"
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
                tests=[TestCase(kind="assert", source=test_text, name=f"{assignment}_test")],
                course="dublin",
            )
        elif problem.instructions != v["description"].strip():
            conflicts[assignment] += 1  # the wording only (tests agree): keep the first row's, report it
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
        notes.append(f"{assignment}: {n} rows have another description than the first row (same test); "
                     "the first row's description kept")
    for assignment, tests in sorted(mixed.items()):
        notes.append(f"{assignment}: rows carry {len(tests)} different tests: split into "
                     + ", ".join(f"{assignment}@test{i + 1} ({n} rows)" for i, n in enumerate(tests.values())))
    if anonymous:
        notes.append(f"{anonymous} rows with an empty user got the synthetic student id "
                     f"'{ANONYMOUS_PREFIX}<submission_id>' (one student per row)")
    provenance = Provenance(
        source=str(path.resolve()),
        format="dublin",
        event_counts={"Submit": sum(len(s) for s in streams)},
        notes=notes,
    )
    bad.record(provenance)
    return Dataset(name=path.stem, streams=streams, problems=dict(sorted(problems.items())), provenance=provenance)


def _test_variants(rows) -> dict[str, dict[str, int]]:
    """assignment -> {test text: rows}, tests in order of first appearance."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for rec in rows:
        assignment = rec.values["assignment_id"].strip()
        test = rec.values["test"].strip()
        if assignment:
            out[assignment][test] = out[assignment].get(test, 0) + 1
    return out


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


IMPORTER = Importer(
    name="dublin",
    detect=detect,
    load=load,
    description="Dublin CSV (submission_id, func_code, assignment_id, func_name, description, test, correct, user)",
)
