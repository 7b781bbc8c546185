"""Turn doctest text (``>>> f(1)`` / ``2``) into TestCase objects."""

from __future__ import annotations

import doctest

from simstudent.schema import TestCase

_PARSER = doctest.DocTestParser()


def parse_doctests(text: str, name_prefix: str = "doctest") -> list[TestCase]:
    """Every ``>>>`` example in ``text`` (a docstring, a test file) as a TestCase.

    Indentation is handled as doctest does; ``expected`` keeps doctest's text
    (without the final newline), so grading compares repr text, not ``==``.
    """
    examples = _PARSER.get_examples(text)
    return [
        TestCase(
            kind="doctest",
            source=ex.source.rstrip("\n"),
            expected=ex.want.rstrip("\n"),
            name=f"{name_prefix} {i + 1}",
        )
        for i, ex in enumerate(examples)
    ]
