"""Degeneration measures, golden values worked out by hand."""

from __future__ import annotations

import pytest

from simstudent.metrics.degeneration import defines_function, degeneration, repeated_block


@pytest.mark.parametrize("text, expected", [
    ("return 0\nreturn 0\nreturn 0", True),                   # one line, 3 times in a row
    ("return 0\nreturn 0\nx = 1\nreturn 0", False),           # 3 times, but not in a row
    ("return 0\nreturn 0", False),                            # only twice
    ('    """Doc."""\n    x\n' * 3, True),                    # a 2-line block, 3 times
    ('    """Doc."""\n    x\n' * 2 + '    """Doc."""\n', False),  # block twice, then half of it
    ("a\n\nb\n\na\n\nb\n\na\nb", True),                       # blank lines do not break the run
    ("a   \na\na\t", True),                                  # trailing whitespace ignored
    ("  a\na\na", False),                                     # leading whitespace (indentation) counts
    ("def f(n):\n    if n:\n        return 1\n    return 0", False),
    ("", False),
])
def test_repeated_block(text, expected):
    assert repeated_block(text) is expected


def test_defines_function():
    assert defines_function("def count_stairs(n):\n    return n", "count_stairs")
    assert defines_function("x = 1\ndef count_stairs (n):\n    return (n", "count_stairs")  # cut off: still defined
    assert not defines_function("def count_digit(n, d):\n    return 0", "count_stairs")
    assert not defines_function("    def count_stairs(n):\n        pass", "count_stairs")  # not top level
    assert not defines_function("def count_stairs_helper(n):\n    pass", "count_stairs")


def test_shares_by_hand():
    rows = [
        # (completion, code, finish reason, function)
        ("<code>def f(n):\n    return n\n</code>", "def f(n):\n    return n", "stop", "f"),
        ("<code>def f(n):\n    x\n    x\n    x", "def f(n):\n    x\n    x\n    x", "length", "f"),
        ("<code>def g(n):\n    return 1\n</code><SUBMIT>", "def g(n):\n    return 1", "submit", "f"),
        ("prose", "prose", None, None),  # legacy attempt: no finish reason, no function known
    ]
    r = degeneration(rows)
    # repeats: only row 2 (x three times) -> 1 of 4 = 0.25
    # truncated: row 2 of the 3 rows with a finish reason -> 1/3
    # defines f: rows 1 and 2 of the 3 rows with a function -> 2/3
    assert (r.attempts, r.repeats, r.finish_reason_known, r.truncated) == (4, 1, 3, 1)
    assert (r.function_known, r.defines_function) == (3, 2)
    assert r.repeat_share == 0.25
    assert r.truncated_share == pytest.approx(1 / 3) and r.defines_function_share == pytest.approx(2 / 3)
    assert degeneration([]).shares() == {"repeats": None, "truncated": None, "defines_function": None}


def test_trajectory_degeneration_skips_a_real_prefix():
    from simstudent.metrics.degeneration import trajectory_degeneration
    from simstudent.schema import Attempt, Trajectory

    real = Attempt(index=0, code="x\nx\nx")  # a real student's prefix attempt: not generated, left out
    gen = Attempt(index=1, code="def f(n):\n    return n", completion="<code>def f(n):\n    return n</code>",
                  finish_reason="stop")
    traj = Trajectory(student_id="s", problem_id="p", attempts=[real, gen])
    r = trajectory_degeneration([traj], {"p": "f"}, skip_first={"p": 1})
    assert (r.attempts, r.repeats, r.truncated, r.defines_function) == (1, 0, 0, 1)
    assert trajectory_degeneration([traj], {"p": "f"}).repeats == 1  # without the skip the prefix counts
