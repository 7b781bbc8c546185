"""The ``simstudent`` command: a thin shell over the Python API.

Each stage keeps its commands in its own module here with a ``register(app)``
function; heavy imports happen inside the command functions so ``--help`` is fast.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

import typer

from simstudent.cli._common import SimstudentGroup


def _hide_flag_types() -> None:
    """Flags take no value, but recent typer versions print their type (``<bool>``)
    beside them in ``--help``; show nothing there instead, for every command at once."""
    try:
        from typer.core import TyperOption
    except ImportError:  # an older typer: it never printed a type for flags
        return
    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_hides_flag_types", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> Optional[str]:
        return None if getattr(self, "is_flag", False) else original(self, ctx)

    display_type_rich._hides_flag_types = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich


_hide_flag_types()

app = typer.Typer(
    name="simstudent",
    help="Simulated novice programmers: run, train, evaluate, report, view.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=SimstudentGroup,  # SimstudentError -> one-line message, exit 2
)

# Order here is the order of `simstudent --help`.
_COMMAND_MODULES = [
    "run",  # run, cohort
    "data",  # data stats
    "problems",  # problems list|show|validate
    "grade",  # grade, doctor
    "models",  # train, adapters
    "metrics",  # metrics
    "experiments",  # eval, report
    "view",  # view
]

for _name in _COMMAND_MODULES:
    importlib.import_module(f"simstudent.cli.{_name}").register(app)


def _print_version(value: bool) -> None:
    if value:
        from simstudent import __version__

        typer.echo(f"simstudent {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print simstudent's version and exit."),
) -> None:
    """Simulated novice programmers: run, train, evaluate, report, view."""


@app.command()
def version() -> None:
    """Print simstudent's version."""
    _print_version(True)


personas_app = typer.Typer(help="The bundled personas (hand-written simulated students).", no_args_is_help=True)
app.add_typer(personas_app, name="personas")


@personas_app.command("list")
def personas_list(
    as_json: bool = typer.Option(False, "--json", help="Print id, description and past problems as JSON."),
) -> None:
    """Every bundled persona: its id, description and the problems of its past work."""
    from simstudent.cli._common import console, print_json
    from simstudent.problems import list_personas, load_persona

    rows = []
    for pid in list_personas():
        persona = load_persona(pid)
        text = " ".join(persona.description.split())
        rows.append({"id": pid, "description": text,
                     "past_problems": [s.problem_id for s in persona.history]})
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} personas (use with --persona / --personas)")
    for col in ("id", "description", "past problems"):
        table.add_column(col)
    for r in rows:
        first = r["description"].split(". ")[0].rstrip(".")  # first sentence; --json has it all
        table.add_row(r["id"], first + "." if first else "", ", ".join(r["past_problems"]))
    console.print(table)


def main() -> None:
    app()
