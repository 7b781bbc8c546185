"""The grader's semantics: doctest/assert/io judging, verdicts, feedback, cache, API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from simstudent.grader import Grader, GraderConfig
from simstudent.grader.doctests import parse_doctests
from simstudent.schema import Problem, TestCase


def doctest_problem(text: str, **kw) -> Problem:
    return Problem(id=kw.pop("id", "p"), tests=parse_doctests(text), **kw)


@pytest.fixture(scope="module")
def grader():
    g = Grader(GraderConfig(workers=2, cache_path=None, per_test_timeout_s=0.5, wall_clock_s=3.0, kill_grace_s=0.3))
    yield g
    g.close()


# -- doctest semantics -------------------------------------------------------------------
def test_doctest_compares_repr_text_not_equality(grader):
    p = doctest_problem(">>> f()\n'ab'\n>>> g()\n1.0\n>>> h()\n[1, 2]")
    ok = grader.grade(p, "def f(): return 'ab'\ndef g(): return 1.0\ndef h(): return [1, 2]\n")
    assert ok.error_type == "no_error" and ok.passed == 3
    # equal values, different repr text: doctest fails them, so do we
    bad = grader.grade(p, "def f(): return \"ab\"\ndef g(): return 1\ndef h(): return (1, 2)\n")
    assert bad.error_type == "logical" and bad.passed == 1  # "ab" prints as 'ab'
    assert [o.got for o in bad.tests] == ["'ab'\n", "1\n", "(1, 2)\n"]


def test_doctest_prints_and_none(grader):
    p = doctest_problem(">>> f()\nhello\n>>> g()\n>>> print(None)\nNone")
    r = grader.grade(p, "def f():\n    print('hello')\ndef g():\n    return None\n")
    assert r.error_type == "no_error", r.feedback


def test_doctest_shared_namespace_in_order(grader):
    p = doctest_problem(">>> x = make()\n>>> x.append(3)\n>>> x\n[1, 2, 3]\n>>> len(x)\n3")
    r = grader.grade(p, "def make():\n    return [1, 2]\n")
    assert r.error_type == "no_error" and r.passed == 4


def test_doctest_expected_exception(grader):
    p = doctest_problem(">>> f(0)\nTraceback (most recent call last):\n  ...\nZeroDivisionError: division by zero")
    assert grader.grade(p, "def f(x):\n    return 1 / x\n").error_type == "no_error"
    wrong_exc = grader.grade(p, "def f(x):\n    raise ValueError('no')\n")
    assert wrong_exc.error_type == "logical"  # an exception was expected, just not this one
    no_exc = grader.grade(p, "def f(x):\n    return 0\n")
    assert no_exc.error_type == "logical"


def test_doctest_unexpected_exception_is_runtime(grader):
    p = doctest_problem(">>> f(1)\n1\n>>> f(0)\n0")
    r = grader.grade(p, "def f(x):\n    return x // x\n")
    assert r.error_type == "runtime" and r.passed == 1
    assert r.tests[1].exception == "ZeroDivisionError: integer division or modulo by zero"


def test_doctest_directives_are_honoured(grader):
    p = doctest_problem(">>> f()  # doctest: +ELLIPSIS\n[0, 1, ..., 99]\n>>> g()  # doctest: +NORMALIZE_WHITESPACE\n1  2")
    r = grader.grade(p, "def f():\n    return list(range(100))\ndef g():\n    print('1 2')\n")
    assert r.error_type == "no_error", r.feedback


def test_always_equal_object_fails_doctest(grader):
    p = doctest_problem(">>> f()\n5")
    code = "class A:\n    def __eq__(self, o):\n        return True\ndef f():\n    return A()\n"
    assert grader.grade(p, code).error_type == "logical"


# -- assert and io tests ---------------------------------------------------------------
def test_assert_tests():
    p = Problem(id="a", tests=[TestCase(kind="assert", source="assert f(2) == 4"),
                               TestCase(kind="assert", source="assert f(0) == 0")])
    with Grader(GraderConfig(workers=1, cache_path=None)) as g:
        assert g.grade(p, "def f(x): return x * x").error_type == "no_error"
        r = g.grade(p, "def f(x): return x + 2")
        assert r.error_type == "logical" and r.passed == 1
        r = g.grade(p, "def f(x): return (4 // x) * x")
        assert r.error_type == "runtime" and r.passed == 1 and "ZeroDivisionError" in r.tests[1].exception


def test_io_tests(grader):
    p = Problem(id="echo", tests=[TestCase(kind="io", source="3\n4\n", expected="7"),
                                  TestCase(kind="io", source="10\n-2\n", expected="8  \n\n")])
    ok = "a = int(input())\nb = int(input())\nprint(a + b)\n"
    assert grader.grade(p, ok).error_type == "no_error"
    exits = "import sys\na = int(input())\nb = int(input())\nprint(a + b)\nsys.exit(0)\n"
    assert grader.grade(p, exits).error_type == "no_error"
    r = grader.grade(p, "a = int(input())\nprint(a)\n")
    assert r.error_type == "logical" and r.passed == 0 and r.tests[0].got == "3\n"
    r = grader.grade(p, "print(int(input()) + int(input()) + int(input()))\n")
    assert r.error_type == "runtime" and "EOFError" in r.tests[0].exception


# -- verdicts ---------------------------------------------------------------------------
def test_compile_error(grader):
    p = doctest_problem(">>> f()\n1")
    r = grader.grade(p, "def f(:\n    return 1\n")
    assert r.error_type == "compile" and r.passed == 0 and r.total == 1
    assert r.pass_rate == 0.0 and r.pass_rate_under("errors_excluded") is None
    assert "SyntaxError" in r.error_message and "line 1" in r.error_message


def test_top_level_error_is_runtime_with_zero_passed(grader):
    p = doctest_problem(">>> f()\n1")
    r = grader.grade(p, "def f():\n    return 1\nundefined_name\n")
    assert r.error_type == "runtime" and r.passed == 0
    assert "NameError" in r.error_message and "(line 3)" in r.error_message


def test_fixed_code_is_prepended_and_line_numbers_stay_the_students(grader):
    p = doctest_problem(">>> double(helper())\n4", fixed_code="def helper():\n    return 2\n")
    assert grader.grade(p, "def double(x):\n    return 2 * x\n").error_type == "no_error"
    r = grader.grade(p, "def double(x):\n    return 2 * x\n1/0\n")
    assert "(line 3)" in r.error_message


def test_timeout_is_runtime_with_flag(grader):
    p = doctest_problem(">>> f(1)\n1\n>>> f(0)\n0")
    r = grader.grade(p, "def f(x):\n    while not x:\n        pass\n    return x\n")
    assert r.error_type == "runtime" and r.timed_out and r.passed == 1
    assert r.tests[1].timed_out and not r.tests[0].timed_out


def test_every_result_names_isolation_and_duration(grader):
    r = grader.grade(doctest_problem(">>> 1\n1"), "")
    assert r.isolation == grader.isolation and r.duration_s > 0


# -- feedback ---------------------------------------------------------------------------
def test_feedback_is_okpy_like(grader):
    p = doctest_problem(">>> add(1, 2)\n3\n>>> add(2, 2)\n4\n>>> add(0, 0)\n0", function_name="add")
    r = grader.grade(p, "def add(a, b):\n    return a + b if a != 2 else 5\n")
    fb = r.feedback
    assert "Doctests for add" in fb
    assert ">>> add(2, 2)\n# Error: expected\n#     4\n# but got\n#     5" in fb
    assert "2 test cases passed" in fb and "1 test cases failed" in fb
    assert ">>> add(0, 0)" not in fb  # only the first failing test


def test_feedback_shows_last_traceback_line(grader):
    p = doctest_problem(">>> f([])\n0", function_name="f")
    fb = grader.grade(p, "def f(xs):\n    return xs[0]\n").feedback
    assert "IndexError: list index out of range" in fb and ">>> f([])" in fb


# -- API: batches, async, cache ------------------------------------------------------------
def test_grade_many_keeps_order(grader):
    p = doctest_problem(">>> f()\n1")
    codes = [f"def f():\n    return {i % 3}\n" for i in range(20)]
    results = grader.grade_many([(p, c) for c in codes])
    assert [r.error_type for r in results] == ["no_error" if i % 3 == 1 else "logical" for i in range(20)]


def test_agrade(grader):
    p = doctest_problem(">>> f()\n1")

    async def both():
        return await asyncio.gather(grader.agrade(p, "def f(): return 1"), grader.agrade(p, "def f(): return 2"))

    a, b = asyncio.run(both())
    assert (a.error_type, b.error_type) == ("no_error", "logical")


def test_cache_roundtrip(tmp_path):
    cfg = GraderConfig(workers=1, cache_path=tmp_path / "grades.sqlite")
    p = doctest_problem(">>> f()\n1")
    with Grader(cfg) as g:
        first = g.grade(p, "def f(): return 1")
        again = g.grade(p, "def f(): return 1")
        other_code = g.grade(p, "def f(): return 2")
        other_tests = g.grade(doctest_problem(">>> f()\n2"), "def f(): return 1")
    assert not first.cached and again.cached and again.error_type == first.error_type
    assert not other_code.cached and not other_tests.cached
    with Grader(cfg) as g:  # a new grader reads the same file
        batch = g.grade_many([(p, "def f(): return 1"), (p, "def f(): return 3")])
    assert [r.cached for r in batch] == [True, False]
    assert batch[0].model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"})


def test_default_cache_lives_under_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert GraderConfig().resolved_cache_path() == tmp_path / "simstudent" / "grades.sqlite"
    assert GraderConfig(cache_path=None).resolved_cache_path() is None


def test_pass_rate_convention(grader):
    r = grader.grade(doctest_problem(">>> f()\n1"), "def f(:\n")
    assert grader.pass_rate(r) == 0.0
    paper = Grader(GraderConfig(workers=1, cache_path=None, pass_rate_convention="errors_excluded"))
    try:
        assert paper.pass_rate(r) is None
    finally:
        paper.close()


def test_unavailable_isolation_is_a_clear_error(monkeypatch):
    from simstudent.grader import sandbox

    monkeypatch.setattr(sandbox, "probe", lambda level, cfg=None: (False, "bwrap not found on PATH"))
    with pytest.raises(sandbox.IsolationUnavailable, match="bwrap not found"):
        sandbox.resolve_isolation("bubblewrap")
    # "auto" never falls back to no sandbox: it refuses, and says how to ask for none explicitly.
    with pytest.raises(sandbox.IsolationUnavailable, match="--isolation none"):
        sandbox.resolve_isolation("auto")
    assert sandbox.resolve_isolation("none")[0] == "none"


def test_wire_rejects_garbage():
    from simstudent.grader import wire

    buf = wire.FrameBuffer(1024)
    frame = wire.encode({"a": 1})
    assert buf.feed(frame[:3]) == [] and buf.feed(frame[3:]) == [{"a": 1}]
    with pytest.raises(wire.FrameError):
        wire.FrameBuffer(1024).feed(b"\x00\x00\x00\x03abc")
    with pytest.raises(wire.FrameError):
        wire.FrameBuffer(16).feed(b"\x00\x10\x00\x00")


def test_rmtree_contents_opens_locked_directories(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simstudent" / "grader"))
    try:
        from sysutil import rmtree_contents
    finally:
        sys.path.pop(0)
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("x")
    (tmp_path / "link").symlink_to("/usr")
    (tmp_path / "g").write_text("y")
    (tmp_path / "a" / "b").chmod(0)
    (tmp_path / "a").chmod(0)
    rmtree_contents(str(tmp_path))
    assert list(tmp_path.iterdir()) == [] and Path("/usr/bin").exists()


def test_a_worker_killed_while_idle_is_replaced_quietly():
    import os
    import signal

    p = doctest_problem(">>> f()\n1")
    with Grader(GraderConfig(workers=1, cache_path=None)) as g:
        assert g.grade(p, "def f(): return 1").error_type == "no_error"
        worker = g._pool.workers[0]
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
        assert g.grade(p, "def f(): return 1").error_type == "no_error"
        assert g.worker_restarts == 1


def test_timeouts_are_not_cached(tmp_path):
    # A timeout reflects machine load as much as the code: it must be re-run next time.
    cfg = GraderConfig(workers=1, cache_path=tmp_path / "grades.sqlite", per_test_timeout_s=0.3, wall_clock_s=2.0)
    p = doctest_problem(">>> f()\n1")
    loop = "def f():\n    while True:\n        pass"
    with Grader(cfg) as g:
        first = g.grade(p, loop)
        again = g.grade(p, loop)
    assert first.timed_out and again.timed_out
    assert not again.cached
