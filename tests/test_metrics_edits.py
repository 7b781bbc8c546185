"""Edit sizes of teacher-forced next attempts, against values worked out by hand."""

from __future__ import annotations

import pytest

from simstudent.metrics.edits import edit_sizes, wasserstein_1d


def test_wasserstein_by_hand() -> None:
    # F_a = 1 from 0 on; F_b = 0 below 1, 1/2 on [1, 3), 1 from 3 on:
    # |1 - 0| * (1 - 0) + |1 - 1/2| * (3 - 1) = 1 + 1 = 2
    assert wasserstein_1d([0, 0], [1, 3]) == pytest.approx(2.0)
    # against a point mass at 2 it is E|X - 2| = (2 + 2) / 2
    assert wasserstein_1d([0, 4], [2]) == pytest.approx(2.0)
    assert wasserstein_1d([1, 2, 3], [3, 2, 1]) == 0.0
    with pytest.raises(ValueError):
        wasserstein_1d([], [1])


def test_edit_sizes_by_hand() -> None:
    examples = [
        # previous "abc"; real next "abd" (1 edit); generated "abc" (0) and "xyz" (3)
        ("abc", "abd", ["abc", "xyz"]),
        # previous "x = 1"; the student resubmitted it (0); generated "x = 2" (1)
        ("x = 1", "x = 1", ["x = 2"]),
        # a stream's first attempt: nothing shown before it, left out
        (None, "print(1)", ["print(2)"]),
    ]
    e = edit_sizes(examples)
    # generated sizes {0, 3, 1}, real sizes {1, 0}
    assert (e.gen.n, e.real.n) == (3, 2)
    assert e.gen.mean == pytest.approx(4 / 3) and e.real.mean == pytest.approx(0.5)
    # |0 - 1| + |3 - 1| + |1 - 0| = 4 over 3 samples
    assert e.mae == pytest.approx(4 / 3)
    # CDFs: gen 1/3, 2/3, 1 at 0, 1, 3; real 1/2, 1 at 0, 1:
    # |1/3 - 1/2| * 1 + |2/3 - 1| * 2 = 1/6 + 2/3 = 5/6
    assert e.wasserstein == pytest.approx(5 / 6)
    assert e.unchanged_gen == pytest.approx(1 / 3) and e.unchanged_real == pytest.approx(0.5)


def test_copying_the_previous_attempt_scores_the_mean_real_edit() -> None:
    prev = ["def f():\n    return 1", "x = 1", "print('hi')"]
    real = ["def f():\n    return 2", "x = 10", "print('hi')"]  # edits 1, 1, 0
    e = edit_sizes([(p, r, [p, p]) for p, r in zip(prev, real)])
    assert e.gen.mean == 0.0 and e.unchanged_gen == 1.0
    assert e.wasserstein == pytest.approx(2 / 3) and e.mae == pytest.approx(2 / 3)


def test_layout_at_the_ends_is_no_edit() -> None:
    # a submission ending in blank lines and trailing spaces, copied as a stripped completion
    e = edit_sizes([("def f():  \r\n    return 1\r\n\r\n", "def f():\n    return 1", ["def f():\n    return 1"])])
    assert e.gen.mean == 0.0 and e.real.mean == 0.0 and e.unchanged_gen == 1.0
    # indentation inside is kept: dedenting the return is a 4-character edit
    e = edit_sizes([("def f():\n    return 1\n", "def f():\nreturn 1", ["def f():\n    return 1"])])
    assert e.real.mean == 4.0 and e.gen.mean == 0.0


def test_no_previous_attempt_gives_an_empty_record() -> None:
    e = edit_sizes([(None, "a", ["b"])])
    assert e.mae is None and e.wasserstein is None and e.gen.n == 0
