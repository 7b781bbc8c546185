"""The ``simstudent`` command: a thin shell over the Python API.

Each stage keeps its commands in its own module here with a ``register(app)``
function; heavy imports happen inside the command functions so ``--help`` is fast.
"""

from __future__ import annotations

import importlib

import typer

from simstudent.cli._common import SimstudentGroup

app = typer.Typer(
    name="simstudent",
    help="Simulated novice programmers: run, train, evaluate, report.",
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
]

for _name in _COMMAND_MODULES:
    importlib.import_module(f"simstudent.cli.{_name}").register(app)


@app.command()
def version() -> None:
    """Print simstudent's version."""
    from simstudent import __version__

    typer.echo(__version__)


def main() -> None:
    app()
