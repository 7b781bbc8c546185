"""The base of every error simstudent raises for something a user can fix.

An error derived from :class:`SimstudentError` means "the input, option or setup is
wrong, and the message says how": the command line prints its message on one line
and exits with status 2. Any other exception is a bug in simstudent (or in a
plug-in) and keeps its traceback.

Each class here also derives from the built-in exception that code used to raise
in its place (``ValueError``, ``KeyError``, ``FileNotFoundError``, ``RuntimeError``),
so ``except ValueError`` written against earlier versions still catches it.
"""

from __future__ import annotations


class SimstudentError(Exception):
    """A user-facing error: bad input, option or setup; the message says what to change."""


class ConfigError(SimstudentError, ValueError):
    """An option or configuration value that cannot be used (the message names it)."""


class InputError(SimstudentError, ValueError):
    """Input that is well-formed but cannot be used for what was asked (e.g. nothing to compare)."""


class NotFoundError(SimstudentError, KeyError):
    """An unknown name: problem, persona, template, backend, registry entry."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class MissingFileError(SimstudentError, FileNotFoundError):
    """A file or folder the user named (or that a step needs) does not exist."""


class SetupError(SimstudentError, RuntimeError):
    """Something this machine lacks (a package, a model, a sandbox tool); the message says how to get it."""


__all__ = ["SimstudentError", "ConfigError", "InputError", "NotFoundError", "MissingFileError", "SetupError"]
