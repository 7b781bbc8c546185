"""Golden tests for the style features, PEP 8 count and style score."""

from __future__ import annotations

import ast
import math

import pytest

from simstudent.metrics.style import (
    StyleScorer,
    ast_shape,
    pep8_codes,
    pep8_violations,
    style_features,
    style_features_many,
)

ASSIGN = "x = 1"
FUNC = "def f(a):\n    return a + 1\n"


def test_features_of_an_assignment_by_hand() -> None:
    # Module(0) > Assign(1) > Name, Constant(2) > Store(3)
    f = style_features(ASSIGN)
    assert (f.chars, f.lines, f.depth, f.width, f.nodes) == (5, 1, 3, 2, 5)
    assert f.nodes == len(list(ast.walk(ast.parse(ASSIGN))))  # context nodes counted


def test_features_of_a_function_by_hand() -> None:
    # depth 0 Module | 1 FunctionDef | 2 arguments, Return | 3 arg, BinOp | 4 Name, Add, Constant | 5 Load
    f = style_features(FUNC)
    # chars of the stripped code: "def f(a):" (9) + "\n" + "    return a + 1" (16) = 26
    assert (f.chars, f.lines, f.depth, f.width, f.nodes) == (26, 2, 5, 3, 10)
    assert style_features(FUNC, size_mode="raw").chars == 27  # the trailing newline counted
    assert ast_shape(ast.parse(FUNC)) == (5, 3, 10)


def test_crlf_counts_like_lf() -> None:
    assert style_features("x = 1\r\ny = 2\r\n") == style_features("x = 1\ny = 2\n")


def test_unparseable_code_keeps_text_features_only() -> None:
    f = style_features("if True\n  x")
    assert (f.chars, f.lines) == (11, 2)
    assert f.depth is None and f.width is None and f.nodes is None and not f.parses
    assert f.pep8 >= 0


def test_pep8_authors_mode_by_hand() -> None:
    # Authors' mode: lines ["def dummy():", "    x=1"] fed without newline characters.
    # E225 (missing whitespace around '='); W292 (no newline at end) is reported, not counted.
    assert sorted(pep8_codes("x=1")) == ["E225", "W292"]
    assert pep8_violations("x=1") == 1
    assert pep8_violations("x = 1") == 0
    # Without newline characters the tokenizer never ends a logical line, so the whole
    # function is one logical line that starts with "def": E401 (several imports on one
    # line) only looks at lines starting with "import", and blank lines are never counted
    # (no NL tokens), so E303 (too many blank lines) cannot fire either.
    assert pep8_violations("import os, sys") == 0
    assert pep8_violations("x = 1\n\n\n\ny = 2") == 0
    # Trailing whitespace is stripped line by line before checking: no W291.
    assert "W291" not in pep8_codes("x = 1   \ny = 2")


def test_pep8_wrapped_mode_by_hand() -> None:
    # "def dummy():\n    import os, sys" with newlines: E401; W292 not counted.
    assert pep8_violations("import os, sys", mode="wrapped") == 1
    # three blank lines inside the function before "y = 2": E303; W292 not counted.
    assert pep8_violations("x = 1\n\n\n\ny = 2", mode="wrapped") == 1
    # E231 after ',', E111 indent of 2 inside the wrapper; a+b is E226, in pycodestyle's default ignore list.
    assert pep8_violations("def f(a,b):\n  return a+b\n", mode="wrapped") == 2


def test_style_score_by_hand_and_sign() -> None:
    # Two codes, every feature larger in the second: standardised rows are -1 / +1 in each
    # column, PC1 = (1,1,1,1,1)/sqrt5, scores -sqrt5 / +sqrt5; the verbose one scores higher.
    small, big = style_features(ASSIGN), style_features(FUNC)
    scorer = StyleScorer.fit([small, big])
    assert scorer.component == pytest.approx([1 / math.sqrt(5)] * 5)
    assert scorer.score(small) == pytest.approx(-math.sqrt(5))
    assert scorer.score(big) == pytest.approx(math.sqrt(5))
    assert scorer.score(style_features("if True\n  x")) is None


def test_style_score_sign_is_fixed_by_verbosity() -> None:
    codes = ["x = 1", "y = [1, 2, 3]", FUNC, "for i in range(3):\n    if i:\n        print(i)\n",
             "def g(a, b, c):\n    t = a\n    t = t + b\n    t = t + c\n    return t\n"]
    scorer = StyleScorer.fit([style_features(c) for c in codes])
    assert scorer.component[0] + scorer.component[1] > 0  # lines + chars loadings
    scores = [scorer.score(style_features(c)) for c in codes]
    assert scores[-1] > scores[0]


def test_style_scorer_needs_two_parseable_codes() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        StyleScorer.fit([style_features(ASSIGN), style_features("(((")])


def test_parallel_features_equal_serial() -> None:
    codes = [ASSIGN, FUNC, "x=1", "(((", FUNC]
    assert style_features_many(codes, processes=2, parallel_threshold=1) == [style_features(c) for c in codes]
