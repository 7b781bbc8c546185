"""Helpers shared by the CLI modules: one console, JSON printing, clean errors.

Errors: a :class:`~simstudent.errors.SimstudentError` anywhere below a command is
a user's problem (bad input, option or setup) and becomes one line on stderr with
exit status 2 (:class:`SimstudentGroup` does that for every command). A command
that builds config models from its options also catches :data:`USER_ERRORS` around
that step (a pydantic ``ValidationError`` there is a bad option value) and reports
it with :func:`one_line`. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from pydantic import ValidationError
from rich.console import Console
from typer.core import TyperGroup

from simstudent.errors import SimstudentError

# A user's mistakes: our own errors, and pydantic's when a config model is built from
# options (catch them only around that step: elsewhere a ValidationError is a bug).
USER_ERRORS: tuple[type[Exception], ...] = (SimstudentError, ValidationError)

console = Console()
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Print one JSON document to stdout, nothing else (for --json)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error to stderr and exit non-zero."""
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise SystemExit(code)


def one_line(exc: Exception) -> str:
    """A user error as one line; a pydantic ``ValidationError`` (a config built from options) as its first error."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "value"
        return f"bad option {where}: {first.get('msg', exc)}"
    return str(exc)


class SimstudentGroup(TyperGroup):
    """The top-level command group: turns a ``SimstudentError`` into ``error: ...`` and exit 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SimstudentError as exc:
            fail(str(exc))
