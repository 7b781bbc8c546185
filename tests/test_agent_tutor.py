"""The rule-based tutor reads REAL grader results (sandboxed grader, real problem)."""

from __future__ import annotations

import pytest

from simstudent.agent.tutor import TUTORS, RuleBasedTutor, Tutor, get_tutor, summarise
from simstudent.grader import Grader, GraderConfig
from simstudent.problems import find_problem
from simstudent.schema import Attempt, Trajectory


@pytest.fixture(scope="module")
def graded():
    problem = find_problem("hw04_q2")
    with Grader(GraderConfig(workers=1, cache_path=None)) as g:
        def traj(*codes: str) -> Trajectory:
            return Trajectory(student_id="s", problem_id=problem.id, attempts=[
                Attempt(index=i, code=c, grade=g.grade(problem, c)) for i, c in enumerate(codes)])
        yield problem, traj


def test_registry_and_protocol():
    assert "rule_based" in TUTORS
    assert isinstance(get_tutor("rule_based"), Tutor)


@pytest.mark.parametrize("code, expected", [
    ("def count_stairs(n)\n    return n", "does not compile: SyntaxError"),
    ("def stairs(n):\n    return 1", "named exactly `count_stairs`"),
    ("def count_stairs(n):\n    return n", "Check the case `count_stairs(4)`: expected 5, got 4."),
    ("def count_stairs(n):\n    return count_stairs(n - 1) + count_stairs(n - 2)", "base case"),
    ("def count_stairs(n):\n    if n <= 1:\n        return 1\n    count_stairs(n - 1) + count_stairs(n - 2)",
     "returns None"),
    ("def count_stairs(n):\n    if n <= 1:\n        print(1)\n    else:\n        print(count_stairs(n - 1))",
     "use `return` instead of `print`"),
    ("def count_stairs(n):\n    return [1, 1, 2][n]", "`count_stairs(3)` raised IndexError"),
    ("", "no code"),
])
def test_rule_based_hints(graded, code, expected):
    problem, traj = graded
    hint = RuleBasedTutor().hint(problem, traj(code))
    assert hint is not None and expected in hint, hint


def test_silent_before_first_attempt_and_after_passing(graded):
    problem, traj = graded
    tutor = RuleBasedTutor()
    assert tutor.hint(problem, traj()) is None
    assert tutor.hint(problem, traj(problem.reference_solution)) is None


def test_summarise(graded):
    problem, traj = graded
    passing = traj("def count_stairs(n):\n    return n", problem.reference_solution)
    passing.stop_reason = "passed"
    ran_out = traj("def count_stairs(n):\n    return n")
    ran_out.stop_reason, ran_out.meta["max_attempts"] = "max_attempts", 1
    quit_early = traj("def count_stairs(n):\n    return n", "def count_stairs(n):\n    return n")
    quit_early.stop_reason, quit_early.meta["max_attempts"] = "submitted", 8
    truncated = traj("def count_stairs(n):\n    return (n")
    truncated.attempts[0].finish_reason = "length"
    truncated.stop_reason, truncated.meta["max_attempts"] = "max_attempts", 1
    out = summarise([passing, ran_out, quit_early, truncated])
    # 1 of 4 final attempts passes; only quit_early stopped unpassed *before* its budget
    # (2 < 8); ran_out and truncated used their whole budget (1 of 1).
    assert out.pass_rate == 0.25 and out.give_up_rate == 0.25 and out.ran_out_rate == 0.5
    assert out.mean_attempts_to_pass == 2.0
    assert out.stop_reasons == {"max_attempts": 2, "passed": 1, "submitted": 1}
    # the cut-off attempt is counted as truncated, not as a compile error
    assert out.truncated_attempts == 1 and "compile" not in out.error_types
    assert out.error_types == {"logical": 4, "no_error": 1, "truncated": 1}
    # final test pass rates: 8/8, 3/8, 3/8, 0/8 -> (1 + 0.375 + 0.375 + 0) / 4
    assert out.mean_final_test_pass_rate == pytest.approx((1.0 + 0.375 + 0.375) / 4)


def test_paired_difference_by_hand():
    from simstudent.agent.summary import paired_difference

    # differences (with - without): 1, 0, 0, 1 -> mean 0.5;
    # sd = sqrt(((.5)^2 * 4) / 3) = sqrt(1/3) = 0.577350; se = sd / 2 = 0.288675;
    # t(0.975, df=3) = 3.182446 -> half-width 0.918693 -> [-0.418693, 1.418693]
    d = paired_difference("pass", [0, 1, 0, 0], [1, 1, 0, 1])
    assert d.n == 4 and d.mean == 0.5
    assert d.ci_low == pytest.approx(-0.418693, abs=1e-5) and d.ci_high == pytest.approx(1.418693, abs=1e-5)
    same = paired_difference("pass", [1, 0], [1, 0])
    assert (same.mean, same.ci_low, same.ci_high) == (0.0, 0.0, 0.0)
    assert paired_difference("pass", [1], [0]).ci_low is None  # one pair: no interval
    with pytest.raises(ValueError, match="not paired"):
        paired_difference("pass", [1, 0], [1])
