"""``simstudent data ...``: look at, convert and split student datasets.

Thin over ``simstudent.data``: the numbers come from ``simstudent.data.stats``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rich.markup import escape

from simstudent.cli._common import console, fail, one_line, print_json

data_app = typer.Typer(help="Inspect, convert and split student datasets.", no_args_is_help=True)

_FORMAT_HELP = "Input format (progsnap2, dublin, jsonl); detected when omitted."
_SKIP_HELP = "Skip malformed rows (and report how many and why) instead of stopping at the first."
MIXED_HELP = ("Dublin-style CSV whose rows of one assignment carry different tests: 'error' (default: stop and "
              "count them) or 'split' (one problem per test, ids <assignment>@test1, @test2, ...).")


def load_for_cli(path: Path, fmt: Optional[str], skip_bad_rows: bool, mixed_tests: str = "error"):
    """Load a dataset for a command: its options checked, bad input a one-line error."""
    from simstudent.data import detect_format, load_dataset

    if mixed_tests not in ("error", "split"):
        fail(f"--mixed-tests must be error or split, not {mixed_tests!r}")
    options = {}
    if mixed_tests != "error":
        if (fmt or detect_format(path)) != "dublin":
            fail("--mixed-tests applies to Dublin-style CSV files only")
        options["mixed_tests"] = mixed_tests
    return load_dataset(path, fmt, skip_bad_rows=skip_bad_rows, **options)


def print_provenance(dataset, console_=None) -> None:
    """Every skipped-row count and every note (repairs, splits, synthetic ids) the importer recorded."""
    out = console_ or console
    prov = dataset.provenance
    for reason, n in prov.skip_reasons.items():
        out.print(f"[yellow]skipped {n:,}[/]: {escape(reason)}", soft_wrap=True)
    for note in prov.notes:
        out.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True, highlight=False)


def _load(path: Path, fmt: Optional[str], skip_bad_rows: bool, mixed_tests: str = "error"):
    return load_for_cli(path, fmt, skip_bad_rows, mixed_tests)


@data_app.command("stats")
def stats(
    path: Path = typer.Argument(..., help="ProgSnap2 folder, Dublin CSV or simstudent JSONL."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help=_SKIP_HELP),
    mixed_tests: str = typer.Option("error", "--mixed-tests", help=MIXED_HELP),
) -> None:
    """Students, problems, submissions, streams, stream lengths, events by type."""
    from simstudent.data.stats import compute_stats

    result = compute_stats(_load(path, fmt, skip_bad_rows, mixed_tests))
    if as_json:
        print_json(result.to_dict())
        return
    _print_stats_tables(result)


def _print_stats_tables(result) -> None:
    from rich.table import Table

    summary = Table(title=f"{result.name} ({result.format})", show_header=False)
    summary.add_column("what")
    summary.add_column("count", justify="right")
    rows = [
        ("students", f"{result.students:,}"),
        ("  with submissions", f"{result.students_with_submissions:,}"),
        ("problems", f"{result.problems:,}"),
        ("submissions", f"{result.submissions:,}"),
        ("streams", f"{result.streams:,}"),
        ("  ordered", f"{result.ordered_streams:,}"),
        ("  with >= 2 submissions", f"{result.stream_length.at_least.get('2', 0):,}"),
        ("  with >= 3 submissions", f"{result.stream_length.at_least.get('3', 0):,}"),
        ("recorded correct / incorrect / unknown",
         " / ".join(f"{result.recorded_correct[k]:,}" for k in ("true", "false", "unknown"))),
        ("skipped rows", f"{result.skipped_rows:,}"),
    ]
    for what, count in rows:
        summary.add_row(what, count)
    console.print(summary)

    ls = result.stream_length
    lengths = Table(title=f"stream length: min {ls.min}, median {ls.median:g}, mean {ls.mean:.2f}, max {ls.max}")
    lengths.add_column("submissions")
    lengths.add_column("streams", justify="right")
    lengths.add_column("")
    top = max(ls.histogram.values(), default=0) or 1
    for bucket, n in ls.histogram.items():
        lengths.add_row(bucket, f"{n:,}", "#" * (max(1, round(30 * n / top)) if n else 0))
    console.print(lengths)

    events = Table(title="events by type")
    events.add_column("event type")
    events.add_column("count", justify="right")
    for kind, n in result.events_by_type.items():
        events.add_row(kind, f"{n:,}")
    console.print(events)
    for reason, n in result.skip_reasons.items():
        console.print(f"[yellow]skipped {n:,}[/]: {escape(reason)}", soft_wrap=True)
    for note in result.notes:
        console.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True, highlight=False)


@data_app.command("convert")
def convert(
    path: Path = typer.Argument(..., help="Input dataset (any supported format)."),
    out: Path = typer.Argument(..., help="Output .jsonl file (simstudent native format)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help=_SKIP_HELP),
    mixed_tests: str = typer.Option("error", "--mixed-tests", help=MIXED_HELP),
) -> None:
    """Write a dataset as simstudent JSONL."""
    from simstudent.data.jsonl import write_dataset

    dataset = _load(path, fmt, skip_bad_rows, mixed_tests)
    print_provenance(dataset)
    write_dataset(dataset, out)
    console.print(f"wrote {len(dataset.streams):,} streams, {dataset.n_submissions:,} submissions to {out}")


@data_app.command("split")
def split(
    path: Path = typer.Argument(..., help="Input dataset (any supported format)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the split manifest (JSON) here."),
    # The same option names as `train` and `eval` (the older names stay as aliases).
    seed: int = typer.Option(0, "--split-seed", "--seed", help="Seed of the student/problem split."),
    test_students: float = typer.Option(0.2, "--test-fraction", "--test-students",
                                        help="Share of students held out as test students."),
    test_problems: float = typer.Option(0.2, "--problem-fraction", "--test-problems",
                                        help="Share of problems held out (test_NS_NP)."),
    itap_fold: Optional[int] = typer.Option(None, "--itap-fold",
                                            help="Use ITAP's CV/FoldN/Test.csv students as the test students."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FORMAT_HELP),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help=_SKIP_HELP),
    mixed_tests: str = typer.Option("error", "--mixed-tests", help=MIXED_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Split into train / test_NS_OP / test_NS_NP and print the sizes."""
    from pydantic import ValidationError

    from simstudent.data.splits import SplitConfig, make_split

    dataset = _load(path, fmt, skip_bad_rows, mixed_tests)
    try:
        config = SplitConfig(
            seed=seed, test_student_fraction=test_students, test_problem_fraction=test_problems, itap_fold=itap_fold
        )
        result = make_split(dataset, config)
    except ValidationError as exc:
        fail(one_line(exc))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(result.manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    summary = result.summary()
    if as_json:
        print_json(summary)
        return
    for key, value in summary.items():
        console.print(f"{key:>24}  {value:,}")
    if out is not None:
        console.print(f"manifest written to {out}")


def register(app: typer.Typer) -> None:
    """Add ``simstudent data`` to the top-level app."""
    app.add_typer(data_app, name="data")
