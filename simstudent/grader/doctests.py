"""Turn doctest text (``>>> f(1)`` / ``2``) into TestCase objects."""

from __future__ import annotations

import doctest

from simstudent.errors import InputError
from simstudent.schema import TestCase

_PARSER = doctest.DocTestParser()


def parse_doctests(text: str, name_prefix: str = "doctest") -> list[TestCase]:
    """Every ``>>>`` example in ``text`` (a docstring, a test file) as a TestCase.

    Indentation is handled as doctest does; ``expected`` keeps doctest's text
    (without the final newline), so grading compares repr text, not ``==``.
    Text doctest cannot parse raises :class:`~simstudent.errors.InputError`.
    """
    try:
        examples = _PARSER.get_examples(text)
    except ValueError as exc:  # doctest's own message: bad indentation, missing space after >>>
        raise InputError(f"bad doctest: {exc}") from None
    return [
        TestCase(
            kind="doctest",
            source=ex.source.rstrip("\n"),
            expected=ex.want.rstrip("\n"),
            name=f"{name_prefix} {i + 1}",
        )
        for i, ex in enumerate(examples)
    ]
