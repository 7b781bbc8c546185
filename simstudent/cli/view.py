"""``simstudent view``: a static HTML viewer of cohorts, runs, eval runs and real datasets."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from simstudent.cli._common import console, err_console, fail


def view_cmd(
    runs: List[Path] = typer.Argument(..., metavar="RUN", help="Cohort folders, `run` outputs (.json), eval run folders, "
                                                "or datasets of real students (e.g. ../shared/data/itap)."),
    out: Path = typer.Option(..., "--out", help="Folder for index.html and its data/ (opens from disk)."),
    title: str = typer.Option("simstudent viewer", "--title", help="Page title."),
    grade_real: bool = typer.Option(False, "--grade-real", help="Grade real students' submissions in the sandbox "
                                    "(problems with a bundled spec; those the simulated streams worked on), so both "
                                    "sides show error types, tests passed and feedback."),
    serve: bool = typer.Option(False, "--serve", help="Also serve the folder over HTTP on localhost until Ctrl-C."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port for --serve (0: any free one)."),
) -> None:
    """Write a viewer: timelines with diffs, verdicts, feedback and hints; filters; a summary per problem;
    simulated next to real students, with a blind mode."""
    from simstudent.view import ViewError, build_view

    try:
        with err_console.status("reading" + (", grading real submissions" if grade_real else "") + " and writing the viewer"):
            res = build_view(runs, out, title=title, grade_real=grade_real)
    except ViewError as exc:
        fail(str(exc))
    except OSError as exc:  # unreadable input, or an --out folder that cannot be written
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    console.print(f"{res.streams} streams ({res.simulated} simulated, {res.real} real) on {len(res.problems)} "
                  f"problems; side by side: {', '.join(res.paired_problems) or 'none (no real dataset for these problems)'}")
    console.print(f"open {res.index_html.resolve().as_uri()}")
    if serve:
        _serve(out, port)


def _serve(folder: Path, port: int) -> None:
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
        console.print(f"serving http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C to stop)")
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


def register(app: typer.Typer) -> None:
    """Add ``view`` to the top-level app."""
    app.command("view")(view_cmd)
