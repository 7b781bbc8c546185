"""Golden tests for the functional metrics and the progress binning."""

from __future__ import annotations

import math

import pytest

from simstudent.metrics.functional import error_distribution, functional_metrics
from simstudent.metrics.items import Item
from simstudent.metrics.progress import edit_distance, progress_curve, progress_metrics, step_bin
from simstudent.schema import GradeResult


def g(error_type: str, passed: int, total: int = 3) -> GradeResult:
    return GradeResult(error_type=error_type, passed=passed, total=total)


GRADES = [g("no_error", 3), g("logical", 1), g("runtime", 1), g("compile", 0)]


def test_error_distribution_keeps_all_four_classes() -> None:
    d = error_distribution(GRADES + [None])
    assert d["shares"] == {"no_error": 0.25, "logical": 0.25, "runtime": 0.25, "compile": 0.25}
    assert d["n_graded"] == 4 and d["n_ungraded"] == 1


def test_pass_rate_under_both_conventions_by_hand() -> None:
    m = functional_metrics(GRADES, GRADES[:2])
    real = m["real"]["pass_rate"]
    # errors as 0: (1 + 1/3 + 1/3 + 0) / 4 = 5/12; excluded: runtime and compile drop -> (1 + 1/3) / 2
    assert real["errors_as_zero"]["mean"] == pytest.approx(5 / 12)
    assert real["errors_excluded"]["mean"] == pytest.approx(2 / 3)
    assert real["errors_excluded"]["n"] == 2


def test_pass_rate_mae_and_error_agreement_by_hand() -> None:
    gen = [g("logical", 2), g("logical", 1), g("compile", 0), g("compile", 0)]
    m = functional_metrics(GRADES, gen, pairs=[(0, 0), (1, 1), (2, 2), (3, 3)])
    # |1 - 2/3| + 0 + |1/3 - 0| + 0 = 2/3 over 4 pairs
    assert m["pass_rate_mae"]["errors_as_zero"]["mae"] == pytest.approx((2 / 3) / 4)
    # excluded: only pairs where both are defined: (0,0) and (1,1) -> (1/3 + 0) / 2
    assert m["pass_rate_mae"]["errors_excluded"]["mae"] == pytest.approx(1 / 6)
    assert m["error_type_agreement"]["share"] == pytest.approx(2 / 4)


def test_recorded_verdicts_are_reported_apart_from_pass_rate() -> None:
    m = functional_metrics([None, None], [None], real_recorded=[True, False], generated_recorded=[None])
    assert m["real"]["recorded_correct"]["mean"] == pytest.approx(0.5)
    assert math.isnan(m["real"]["pass_rate"]["errors_as_zero"]["mean"])
    assert "recorded_correct" not in m["generated"]


@pytest.mark.parametrize("pos,n,expected", [(0, 5, 0), (1, 5, 2), (2, 5, 5), (3, 5, 7), (4, 5, 9),
                                            (3, 6, 6), (1, 2, 9), (0, 1, None)])
def test_step_bin_by_hand(pos: int, n: int, expected) -> None:
    assert step_bin(pos, n, 10) == expected


def _stream(codes, grades, sid="s", pid="p"):
    return [Item(sid, pid, i, len(codes), i, c, gr) for i, (c, gr) in enumerate(zip(codes, grades))]


def test_progress_curve_by_hand() -> None:
    items = _stream(["a", "ab", "abc"], [g("compile", 0), g("logical", 1), g("no_error", 3)])
    prev = [None, "a", "ab"]
    curve = progress_curve(items, prev, [0.0, 1.0, 2.0], bins=2)
    # steps 0, 0.5, 1 -> bins 0, 1, 1
    assert curve[0]["n"] == 1 and curve[1]["n"] == 2
    assert curve[0]["pass_rate"]["errors_as_zero"] == 0.0
    assert math.isnan(curve[0]["pass_rate"]["errors_excluded"])
    assert curve[1]["pass_rate"]["errors_as_zero"] == pytest.approx((1 / 3 + 1) / 2)
    assert curve[1]["style_score"] == pytest.approx(1.5)
    assert math.isnan(curve[0]["edit_distance"])  # first attempt: nothing before it
    assert curve[1]["edit_distance"] == pytest.approx(1.0)


def test_progress_gap_is_zero_for_identical_sides() -> None:
    items = _stream(["a", "abc"], [g("logical", 1), g("no_error", 3)])
    m = progress_metrics(items, [None, "a"], [0.0, 1.0], items, [None, "a"], [0.0, 1.0], bins=10)
    assert m["curve_gap"]["pass_rate"] == 0.0 and m["curve_gap"]["edit_distance"] == 0.0


def test_edit_distance_ignores_line_ending_style() -> None:
    assert edit_distance("x = 1\r\ny = 2", "x = 1\ny = 2") == 0
    assert edit_distance("kitten", "sitting") == 3
