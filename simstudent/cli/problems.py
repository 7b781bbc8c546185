"""``simstudent problems list|show|validate``: browse and check problem specs."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from simstudent.cli._common import console, err_console, fail, print_json

problems_app = typer.Typer(
    help="Browse and validate problem specs (scenarios/<course>/<id>.toml).",
    no_args_is_help=True,
)

_COURSE = typer.Option(None, "--course", "-c", help="Only this course (a folder under scenarios/).")
_PATHS = typer.Argument(None, help="Spec files or folders (default: every course under scenarios/).")
_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _spec_paths(course: Optional[str], paths: Optional[List[Path]]) -> list[Path]:
    """The spec files the user asked for."""
    from simstudent.problems.spec import course_dirs, resolve_course, spec_files

    if course and paths:
        fail("give either --course or PATHS, not both")
    try:
        if course:
            folders = [resolve_course(course)]
        elif paths:
            missing = [str(p) for p in paths if not p.exists()]
            if missing:
                fail(f"no such file or folder: {', '.join(missing)}")
            folders = list(paths)
        else:
            folders = course_dirs()
    except FileNotFoundError as exc:
        fail(str(exc))
    return spec_files(folders)


def _load_all(files: list[Path]):
    """(path, problem or None, error or None) for every file, loading what loads."""
    from simstudent.problems.spec import ProblemSpecError, load_problem_file

    out = []
    for f in files:
        try:
            out.append((f, load_problem_file(f), None))
        except ProblemSpecError as exc:
            out.append((f, None, exc))
    return out


@problems_app.command("list")
def list_cmd(
    paths: Optional[List[Path]] = _PATHS,
    course: Optional[str] = _COURSE,
    json_: bool = _JSON,
) -> None:
    """List problems: id, course, homework, title, number of tests."""
    loaded = _load_all(_spec_paths(course, paths))
    bad = [(f, e) for f, p, e in loaded if e is not None]
    problems = [p for _, p, e in loaded if e is None]
    if json_:
        print_json(
            [
                {
                    "id": p.id,
                    "course": p.course,
                    "homework": p.homework,
                    "title": p.title,
                    "topic": p.topic,
                    "n_tests": len(p.tests),
                }
                for p in problems
            ]
        )
    else:
        from rich.table import Table

        table = Table("id", "course", "homework", "title", "tests", box=None)
        for p in problems:
            table.add_row(p.id, p.course, p.homework, p.title, str(len(p.tests)))
        console.print(table)
        console.print(f"{len(problems)} problems")
    for _, exc in bad:
        err_console.print(f"[red]skipped[/] {escape(str(exc))}", soft_wrap=True)
    if bad:
        raise SystemExit(1)


@problems_app.command("show")
def show_cmd(
    problem_id: str = typer.Argument(..., help="Problem id (or course/id)."),
    with_solution: bool = typer.Option(
        False, "--with-solution", help="Also print the reference solution and every test."
    ),
    json_: bool = _JSON,
) -> None:
    """Print one problem as a student sees it (instructions, given code, skeleton)."""
    from simstudent.errors import SimstudentError
    from simstudent.problems.spec import find_problem

    try:
        problem = find_problem(problem_id)
    except SimstudentError as exc:
        fail(str(exc))
    if json_:
        exclude = None if with_solution else {"reference_solution", "tests"}
        data = problem.model_dump(mode="json", exclude=exclude)
        data["n_tests"] = len(problem.tests)
        print_json(data)
        return

    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.syntax import Syntax

    head = f"[bold]{problem.id}[/] - {problem.title}"
    meta = f"course {problem.course}, {problem.homework or 'no homework'}, topic: {problem.topic or '-'}"
    console.print(Panel(Markdown(problem.instructions.strip()), title=head, subtitle=meta))
    if problem.fixed_code.strip():
        console.print("[bold]Given code[/] (do not change):")
        console.print(Syntax(problem.fixed_code.strip("\n"), "python", word_wrap=True))
    console.print("[bold]Skeleton[/]:")
    console.print(Syntax(problem.skeleton_code.strip("\n"), "python", word_wrap=True))
    console.print(f"{len(problem.tests)} tests; tags: {', '.join(problem.tags) or '-'}")
    if with_solution:
        console.print("[bold]Reference solution[/]:")
        console.print(Syntax((problem.reference_solution or "").strip("\n"), "python", word_wrap=True))
        console.print("[bold]Tests[/]:")
        for t in problem.tests:
            shown = t.source + (f"\n  -> {t.expected}" if t.expected else "")
            console.print(f"[dim]{t.kind:8}[/] {escape(shown)}", highlight=False)


@problems_app.command("validate")
def validate_cmd(
    paths: Optional[List[Path]] = _PATHS,
    course: Optional[str] = _COURSE,
    json_: bool = _JSON,
) -> None:
    """Check specs: they load, the reference solution passes every test, the skeleton
    fails one. Exits 1 when any spec fails."""
    from simstudent.grader import Grader
    from simstudent.problems.validate import validate_problems

    loaded = _load_all(_spec_paths(course, paths))
    if not loaded:
        fail("no problem specs found")
    good = [(f, p) for f, p, e in loaded if p is not None]
    with console.status(f"grading {len(good)} reference solutions and skeletons"), Grader() as grader:
        found = validate_problems([p for _, p in good], grader)
    report = []
    for f, p, exc in loaded:
        if exc is not None:
            errors = [f"{exc.field}: {exc.message}"]
        else:
            errors = found[f"{p.course}/{p.id}"]
        report.append({"path": str(f), "id": p.id if p else f.stem, "ok": not errors, "errors": errors})

    n_bad = sum(not r["ok"] for r in report)
    if json_:
        print_json(report)
    else:
        for r in report:
            if r["ok"]:
                console.print(f"[green]ok[/]   {escape(r['path'])}", highlight=False, soft_wrap=True)
            for e in r["errors"]:
                line = f"[red]FAIL[/] {escape(r['path'])}: {escape(e)}"
                console.print(line, highlight=False, soft_wrap=True)
        console.print(f"{len(report)} specs, {len(report) - n_bad} ok, {n_bad} failed")
    if n_bad:
        raise SystemExit(1)


def register(app: typer.Typer) -> None:
    """Add ``simstudent problems ...`` to the top-level app."""
    app.add_typer(problems_app, name="problems")
