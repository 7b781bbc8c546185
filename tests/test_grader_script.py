"""The `script` test kind: a fresh run of the whole program per test, stdin in, stdout or a value out."""

from __future__ import annotations

import textwrap

import pytest

from simstudent.grader import Grader, GraderConfig
from simstudent.grader.doctests import parse_doctests
from simstudent.problems.spec import ProblemSpecError, load_problem_file
from simstudent.schema import Problem, TestCase

ADDS = Problem(id="adds", tests=[
    TestCase(kind="script", source="", stdin="3\n4\n", expected="7", name="adds 3 and 4"),
    TestCase(kind="script", source="", stdin="10\n-2\n", expected="8", name="adds 10 and -2"),
])
ADDER = "a = int(input())\nb = int(input())\nprint(a + b)\n"

# record() returns how many calls the program has seen: 1 on every test only if each test
# starts from a fresh run (a shared namespace would give 1, then 2).
COUNTER = Problem(id="counter", function_name="record", tests=[
    TestCase(kind="script", source="record('x')", expected="1", stdin="\n", name="first call"),
    TestCase(kind="script", source="record('y')", expected="1", stdin="\n", name="first call again"),
    TestCase(kind="script", source="calls", expected="['z']", stdin="z\n", name="reads stdin at the start"),
])
COUNTER_CODE = "calls = []\nfirst = input()\nif first:\n    calls.append(first)\n" \
               "def record(x):\n    calls.append(x)\n    return len(calls)\n"


@pytest.fixture(scope="module")
def grader():
    with Grader(GraderConfig(workers=1, per_test_timeout_s=0.5, wall_clock_s=5.0, kill_grace_s=0.3,
                             cache_path=None)) as g:
        yield g


def test_stdout_against_expected(grader):
    r = grader.grade(ADDS, ADDER)
    assert r.error_type == "no_error" and r.passed == 2, r.feedback
    wrong = grader.grade(ADDS, "a = int(input())\nb = int(input())\nprint(a * b)\n")
    assert wrong.error_type == "logical" and [o.passed for o in wrong.tests] == [False, False]
    # okpy-style: the input the program got, what was expected, what came out.
    fb = wrong.feedback
    assert "run from the start" in fb and "Input:" in fb and "    3" in fb and "#     7" in fb and "#     12" in fb


def test_each_test_is_a_fresh_run_and_expressions_compare_by_repr(grader):
    r = grader.grade(COUNTER, COUNTER_CODE)
    assert r.error_type == "no_error" and r.passed == 3, r.feedback
    assert r.tests[0].got == "1\n" or r.tests[0].got.strip() == "1"


def test_fresh_even_after_doctests_changed_module_state(grader):
    """Mixed kinds: doctests share the top-level namespace and may alter modules; a
    script test starts from a process no student code has touched."""
    problem = Problem(id="area", function_name="area", tests=[
        *parse_doctests(">>> spoil()\n>>> area(1)\n3"),
        TestCase(kind="script", source="area(1)", expected="3.141592653589793", name="fresh"),
    ])
    code = "import math\ndef spoil():\n    math.pi = 3\ndef area(r):\n    return math.pi * r * r\n"
    r = grader.grade(problem, code)
    assert r.error_type == "no_error" and r.passed == 3, r.feedback


def test_script_errors_and_timeouts(grader):
    crash = grader.grade(ADDS, "a = int(input())\nraise ValueError('no')\n")
    assert crash.error_type == "runtime" and "ValueError: no" in crash.feedback
    loop = grader.grade(ADDS, "while True:\n    pass\n")
    assert loop.error_type == "runtime" and loop.timed_out
    assert loop.tests[0].timed_out and loop.tests[1].exception.startswith("not run")
    stubborn = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    r = grader.grade(ADDS, stubborn)  # ignores the alarm: the fresh run is killed from outside
    assert r.error_type == "runtime" and r.timed_out
    exits = grader.grade(ADDS, "import sys\nprint(int(input()) + int(input()))\nsys.exit(0)\n")
    assert exits.error_type == "no_error", exits.feedback
    ok = grader.grade(ADDS, ADDER)  # and the grader still serves
    assert ok.error_type == "no_error"


def test_spec_with_mixed_kinds_loads(tmp_path):
    spec = tmp_path / "p1.toml"
    spec.write_text(textwrap.dedent("""
        id = "p1"
        title = "Sum"
        instructions = "Read two numbers and print their sum; define add(a, b)."
        skeleton_code = '''def add(a, b):
            \"\"\"
            >>> add(1, 2)
            3
            \"\"\"
            "*** YOUR CODE HERE ***"
        '''
        reference_solution = '''def add(a, b):
            return a + b
        '''

        [[tests]]
        kind = "script"
        stdin = "3\\n4\\n"
        expected = "7"

        [[tests]]
        kind = "script"
        source = "add(2, 5)"
        expected = "7"
        """))
    p = load_problem_file(spec)
    assert [t.kind for t in p.tests] == ["doctest", "script", "script"]
    assert p.tests[1].stdin == "3\n4\n" and p.tests[1].source == "" and p.tests[2].source == "add(2, 5)"
    bad = tmp_path / "p2.toml"
    bad.write_text(spec.read_text().replace('id = "p1"', 'id = "p2"').replace('source = "add(2, 5)"', 'source = "x ="'))
    with pytest.raises(ProblemSpecError, match="not a Python expression"):
        load_problem_file(bad)
