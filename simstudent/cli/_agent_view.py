"""How ``simstudent run`` and ``simstudent cohort`` show their results: one panel per
attempt, a summary table per cohort, the degeneration figures."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from simstudent.cli._common import console

ERROR_COLOURS = {"no_error": "green", "logical": "yellow", "runtime": "red", "compile": "magenta",
                 "truncated": "bright_black"}


def attempt_title(attempt: Any, previous: Optional[Any]) -> tuple[str, str]:
    """(panel title, colour) of one attempt. A truncated attempt is labelled as cut
    (by the token limit, or as looping text), never as the student's compile error."""
    import Levenshtein

    g = attempt.grade
    dist = "-" if previous is None else str(Levenshtein.distance(previous.code, attempt.code))
    if attempt.truncated:
        tokens = f" at {attempt.completion_tokens} tokens" if attempt.completion_tokens else ""
        why = "looping text" if (attempt.sampling or {}).get("cut") == "repetition" else "token limit"
        verdict, colour = f"[bright_black]truncated{tokens}[/] ({why})", "bright_black"
    elif g is not None:
        colour = ERROR_COLOURS.get(g.error_type, "white")
        verdict = f"[{colour}]{g.error_type}[/]"
    else:
        return f"attempt {attempt.index + 1}", "white"
    tests = f"passed {g.passed}/{g.total} ({100 * g.pass_rate:.0f} %)" if g is not None else "ungraded"
    title = (f"attempt {attempt.index + 1}  {verdict}  {tests}  edit distance {dist}"
             + ("  [bold]<SUBMIT>[/]" if attempt.submitted else ""))
    return title, colour


def show_attempt(attempt: Any, previous: Optional[Any]) -> None:
    """One attempt as a panel: hint, code, the autograder's feedback."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.text import Text

    title, colour = attempt_title(attempt, previous)
    parts: list[Any] = []
    if attempt.hint:
        parts.append(Text(f"hint shown: {attempt.hint}", style="cyan"))
    code = attempt.code if attempt.code.strip() else "# (no code in the completion)"
    parts.append(Syntax(code, "python", line_numbers=False, word_wrap=True))
    if attempt.truncated:
        parts.append(Text("cut off by the token limit (--max-new-tokens): the grade below is of "
                          "unfinished code, not a student's mistake", style="bright_black"))
    if attempt.grade and attempt.grade.feedback:
        parts.append(Text(attempt.grade.feedback.strip(), style="dim"))
    console.print(Panel(Group(*parts), title=title, title_align="left", border_style=colour))


def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def summary_table(trajectories: Sequence[Any], title: str) -> Any:
    """A rich table: one row per problem and a total row (see agent.summary)."""
    from rich.table import Table

    from simstudent.agent.summary import per_problem, summarise

    table = Table(title=title, title_justify="left")
    for name, justify in [("problem", "left"), ("n", "right"), ("attempts", "right"),
                          ("passed", "right"), ("gave up", "right"), ("ran out", "right"),
                          ("truncated", "right"), ("stop reasons", "left")]:
        # numbers never wrap; the stop reasons take what width is left and wrap
        table.add_column(name, justify=justify, no_wrap=name != "stop reasons",  # type: ignore[arg-type]
                         overflow="fold")

    def row(label: str, o: Any, style: str = "") -> None:
        stops = ", ".join(f"{k} {v}" for k, v in o.stop_reasons.items())
        table.add_row(label, str(o.trajectories), f"{o.attempts} ({o.mean_attempts:.1f})", _pct(o.pass_rate),
                      _pct(o.give_up_rate), _pct(o.ran_out_rate),
                      str(o.truncated_attempts),
                      stops, style=style)

    groups = per_problem(trajectories)
    for pid, outcome in groups.items():
        row(pid, outcome)
    if len(groups) > 1:
        row("all", summarise(trajectories), style="bold")
    table.caption = ("n: students; attempts: total (mean per student); passed: final attempt passes every test; gave up: "
                     "stopped unpassed before the attempt budget; ran out: used the whole budget unpassed; "
                     "truncated: attempts cut by the token limit or as looping text")
    return table


def degeneration_lines(report: Any) -> list[str]:
    """The degeneration figures as sentences."""
    s = report.shares()
    return [
        f"repeat a line or block 3+ times in a row: {_pct(s['repeats'])} ({report.repeats}/{report.attempts} attempts)",
        f"cut by the token limit: {_pct(s['truncated'])} ({report.truncated}/{report.finish_reason_known} "
        "attempts with a recorded finish reason)",
        f"define the required function: {_pct(s['defines_function'])} "
        f"({report.defines_function}/{report.function_known} attempts)",
    ]


def print_comparison(result: Any) -> None:
    """Without vs with a tutor, then the paired differences with their intervals."""
    from rich.table import Table

    table = Table(title=f"without vs with tutor {result.tutor!r}", title_justify="left")
    table.add_column("measure")
    table.add_column("without", justify="right")
    table.add_column(f"with {result.tutor}", justify="right")
    for r in result.table_rows():
        table.add_row(*r)
    console.print(table)
    if result.differences:
        diff = Table(title="paired difference (with - without, same students and seeds)", title_justify="left")
        for name in ("measure", "mean difference", "confidence interval"):
            diff.add_column(name)
        for r in result.difference_rows():
            diff.add_row(*r)
        console.print(diff)


def finish_cohort(trajs: Any, notes: Any, out: Any, problems: Any, *, export: Any, as_json: bool) -> None:
    """What ``cohort`` prints when it ends (in one process or on Ray): the notes, the
    export asked for, and the summary (a table, or JSON)."""
    from simstudent.agent.export import export_jsonl, export_progsnap2
    from simstudent.agent.summary import summarise
    from simstudent.cli._common import console, err_console, print_json

    for note in notes:
        err_console.print(f"[dim]{note}[/]")
    if export == "progsnap2":
        err_console.print(f"exported ProgSnap2 to {export_progsnap2(trajs, out / 'progsnap2')}")
    elif export == "jsonl":
        path = export_jsonl(trajs, out / "cohort.jsonl", problems, name=out.name)
        err_console.print(f"exported JSONL dataset to {path}")
    if as_json:
        print_json(summarise(trajs).model_dump(mode="json"))
        return
    console.print(summary_table(trajs, f"cohort {out}"))
