"""``simstudent grade`` and ``simstudent doctor``: thin over ``simstudent.grader``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from simstudent.cli._common import console, err_console, fail, print_json
from simstudent.errors import SimstudentError

_ISOLATION_HELP = ("Sandbox: auto (strongest that starts; refuses to grade when none does), bubblewrap, unshare, "
                   "or none (no sandbox: untrusted code runs with your rights).")
_MIXED_HELP = ("rows of one assignment with different tests: 'error' (default: stop and count them) or 'split' "
               "(one problem per test, ids <assignment>@test1, ...).")
_CONVENTION_HELP = "Pass rate printed: errors_as_zero (default) or errors_excluded (the paper's: undefined for errors)."


def _config(workers: Optional[int], isolation: str, no_cache: bool, timeout: float, convention: str):
    from pydantic import ValidationError

    from simstudent.grader import GraderConfig

    kwargs = dict(isolation=isolation, per_test_timeout_s=timeout, pass_rate_convention=convention)
    if workers:
        kwargs["workers"] = workers
    if no_cache:
        kwargs["cache_path"] = None
    try:
        return GraderConfig(**kwargs)
    except ValidationError as exc:
        fail(f"bad grader option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")


def _make_grader(cfg):
    from simstudent.grader import Grader
    from simstudent.grader.sandbox import IsolationUnavailable

    try:
        return Grader(cfg)
    except IsolationUnavailable as exc:
        fail(str(exc))


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{what} not found: {path}")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {what} {path}: {exc}")


def _problem_for(problem_id: Optional[str], doctest_file: Optional[Path]):
    from simstudent.grader.doctests import parse_doctests
    from simstudent.schema import Problem

    if problem_id:
        try:
            from simstudent.problems import find_problem
        except ImportError as exc:
            fail(f"--problem needs simstudent.problems ({exc})")
        try:
            return find_problem(problem_id)
        except SimstudentError as exc:
            fail(f"problem {problem_id!r}: {exc}")
    assert doctest_file is not None
    try:
        tests = parse_doctests(_read_text(doctest_file, "doctest file"))
    except SimstudentError as exc:
        fail(f"{doctest_file}: {exc}")
    if not tests:
        fail(f"{doctest_file}: no '>>>' examples found")
    return Problem(id=doctest_file.stem, tests=tests)


def _grade_files(files: list[Path], problem, grader, as_json: bool) -> None:
    codes = [_read_text(f, "code file") for f in files]
    results = grader.grade_many([(problem, code) for code in codes])
    if as_json:
        rows = []
        for path, res in zip(files, results):
            row = {"file": str(path), **res.summary(), "pass_rate": grader.pass_rate(res),
                   "error_message": res.error_message, "duration_s": res.duration_s, "cached": res.cached}
            rows.append(row)
        print_json(rows)
        return
    colours = {"no_error": "green", "logical": "yellow", "runtime": "red", "compile": "magenta"}
    for path, res in zip(files, results):
        rate = grader.pass_rate(res)
        rate_text = "undefined" if rate is None else f"{rate:.0%}"
        console.print(f"[bold]{path}[/]: [{colours[res.error_type]}]{res.error_type}[/] "
                      f"{res.passed}/{res.total} passed (pass rate {rate_text})"
                      f"{', timed out' if res.timed_out else ''} [dim]isolation {res.isolation}[/]")
        console.print(res.feedback, markup=False, highlight=False)


def _grade_dataset(path: Path, problems_dir: Optional[Path], grader, as_json: bool, show: int,
                   skip_bad_rows: bool = False, mixed_tests: str = "error") -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from simstudent.cli.data import load_for_cli, print_provenance
    from simstudent.grader.agreement import gradable, regrade_agreement

    dataset = load_for_cli(path, None, skip_bad_rows, mixed_tests)
    # Every repair, split and skipped row the importer made, before any number (stderr with --json).
    print_provenance(dataset, err_console if as_json else console)
    if problems_dir is not None:
        from simstudent.problems import attach_problems

        try:
            attach_problems(dataset, problems_dir)
        except (SimstudentError, OSError) as exc:
            fail(f"{problems_dir}: {exc}")
    rows, _ = gradable(dataset)
    if not rows:
        fail(f"{path}: no submission has both tests and a recorded verdict"
             + ("" if problems_dir else " (attach problem specs with --problems DIR)"))
    with Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=as_json) as bar:
        task = bar.add_task("grading", total=len(rows))
        report = regrade_agreement(dataset, grader, progress=lambda n: bar.advance(task, n))
    if as_json:
        prov = dataset.provenance
        print_json({**report.model_dump(), "skipped_rows": prov.skipped_rows, "skip_reasons": prov.skip_reasons,
                    "notes": prov.notes})
        return
    from rich.table import Table

    console.print(f"[bold]{report.agreed}/{report.n}[/] recorded verdicts reproduced "
                  f"([bold]{report.agreement:.2%}[/]); {report.skipped} submissions without tests or verdict skipped; "
                  f"isolation {grader.isolation}")
    console.print("our error types: " + ", ".join(f"{k} {v}" for k, v in report.error_types.items()))
    if report.disagreements:
        table = Table(title=f"disagreements (first {min(show, len(report.disagreements))} "
                            f"of {len(report.disagreements)})")
        for col in ("student", "problem", "order", "recorded", "got", "reason"):
            table.add_column(col)
        for d in report.disagreements[:show]:
            table.add_row(d.student[:12], d.problem, str(d.order), str(d.recorded), str(d.got), d.reason)
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``grade`` and ``doctor`` to the top-level app."""

    @app.command("grade")
    def grade(
        files: Optional[list[Path]] = typer.Argument(None, help="Python files to grade."),
        problem: Optional[str] = typer.Option(None, "--problem", help="Grade FILES against this problem id."),
        doctest_file: Optional[Path] = typer.Option(None, "--doctest", help="Grade FILES against the >>> examples in this file."),
        dataset: Optional[Path] = typer.Option(None, "--dataset", help="Re-grade a dataset and report agreement with its recorded verdicts."),
        problems_dir: Optional[Path] = typer.Option(None, "--problems", help="With --dataset: problem specs (TOML) to attach by id."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
        workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (default: CPU count)."),
        isolation: str = typer.Option("auto", "--isolation", help=_ISOLATION_HELP),
        timeout: float = typer.Option(2.0, "--timeout", help="Per-test timeout in seconds."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the grade cache."),
        convention: str = typer.Option("errors_as_zero", "--pass-rate-convention", help=_CONVENTION_HELP),
        show: int = typer.Option(20, "--show", help="With --dataset: disagreements listed in the text report."),
        skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="With --dataset: skip malformed rows "
                                           "(counted, the first few named) instead of stopping at the first."),
        mixed_tests: str = typer.Option("error", "--mixed-tests", help="With --dataset: " + _MIXED_HELP),
    ) -> None:
        """Grade code files against a problem's tests, or re-grade a whole dataset."""
        if dataset is not None:
            if files or problem or doctest_file:
                fail("--dataset grades the dataset's own submissions: give no FILES, --problem or --doctest")
        else:
            if not files:
                fail("give FILES to grade (with --problem ID or --doctest TESTFILE), or --dataset PATH")
            if bool(problem) == bool(doctest_file):
                fail("give exactly one of --problem ID or --doctest TESTFILE")
            if problems_dir is not None or skip_bad_rows or mixed_tests != "error":
                fail("--problems, --skip-bad-rows and --mixed-tests only apply with --dataset")
        cfg = _config(workers, isolation, no_cache, timeout, convention)
        target = _problem_for(problem, doctest_file) if dataset is None else None
        with _make_grader(cfg) as grader:
            if dataset is not None:
                _grade_dataset(dataset, problems_dir, grader, as_json, show, skip_bad_rows, mixed_tests)
            else:
                _grade_files(list(files or []), target, grader, as_json)

    @app.command("doctor")
    def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
        """Which sandbox the grader can use here and why; Python, torch and model availability."""
        from rich.markup import escape

        from simstudent.grader.doctor import checks

        lines = checks()
        if as_json:
            print_json({k: v for k, v in lines})
            return
        width = max(len(k) for k, _ in lines)
        for key, value in lines:
            style = "red" if ("unavailable" in value or "WARNING" in value or "not found" in value) else ""
            value = escape(value)
            console.print(f"{key:<{width}}  " + (f"[{style}]{value}[/]" if style else value), highlight=False, soft_wrap=True)
