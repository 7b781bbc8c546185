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
    failing = traj("def count_stairs(n):\n    return n")
    failing.stop_reason = "max_attempts"
    out = summarise([passing, failing])
    assert out.pass_rate == 0.5 and out.give_up_rate == 0.5
    assert out.mean_attempts_to_pass == 2.0
    assert out.stop_reasons == {"max_attempts": 1, "passed": 1}
    assert out.mean_final_test_pass_rate == pytest.approx((1.0 + 3 / 8) / 2)
