"""Grading policy: stop at the first timeout, never downgrade the sandbox silently."""

from __future__ import annotations

import pytest

from simstudent.grader import Grader, GraderConfig
from simstudent.grader import sandbox
from simstudent.grader.doctests import parse_doctests
from simstudent.grader.sandbox import IsolationUnavailable, how_to_fix, resolve_isolation
from simstudent.schema import Problem

# Test 2 loops forever for n == 2; tests 3 and 4 would pass.
TWICE = Problem(id="twice", function_name="twice",
                tests=parse_doctests(">>> twice(1)\n2\n>>> twice(2)\n4\n>>> twice(3)\n6\n>>> twice(4)\n8"))
LOOPS_ON_2 = "def twice(n):\n    while n == 2:\n        pass\n    return 2 * n\n"


def _cfg(**kw) -> GraderConfig:
    return GraderConfig(workers=1, per_test_timeout_s=0.3, wall_clock_s=5.0, kill_grace_s=0.3, cache_path=None, **kw)


def test_stops_at_the_first_timeout_and_says_which_tests_were_not_run():
    with Grader(_cfg()) as g:
        r = g.grade(TWICE, LOOPS_ON_2)
    assert r.error_type == "runtime" and r.timed_out
    assert [o.passed for o in r.tests] == [True, False, False, False] and r.passed == 1 and r.total == 4
    assert r.tests[1].timed_out and not r.tests[2].timed_out
    assert all(o.exception.startswith("not run") and o.got is None for o in r.tests[2:])
    assert "Not run (a test timed out" in r.feedback and "doctest 3, doctest 4" in r.feedback
    assert "TimeoutError" in r.feedback


def test_the_old_behaviour_runs_the_rest_with_the_same_verdict():
    with Grader(_cfg(stop_at_first_timeout=False)) as g:
        r = g.grade(TWICE, LOOPS_ON_2)
    # Same verdict; tests 3 and 4 did run (and pass), which only cost time.
    assert r.error_type == "runtime" and r.timed_out
    assert [o.passed for o in r.tests] == [True, False, True, True]
    assert "Not run" not in r.feedback


def test_top_level_crash_lists_the_tests_not_run():
    with Grader(_cfg()) as g:
        r = g.grade(TWICE, "raise ValueError('boom')\n")
    assert r.error_type == "runtime" and r.passed == 0
    assert "boom" in r.feedback
    assert "Not run (the code above failed first" in r.feedback and "doctest 1, doctest 2" in r.feedback


def test_auto_refuses_when_no_sandbox_starts(monkeypatch):
    monkeypatch.setattr(sandbox, "probe", lambda level, cfg=None: (False, "bwrap not found on PATH"))
    with pytest.raises(IsolationUnavailable) as info:
        resolve_isolation("auto")
    msg = str(info.value)
    assert "bubblewrap" in msg and "apt-get install -y bubblewrap" in msg and "--isolation none" in msg
    with pytest.raises(IsolationUnavailable):
        Grader(_cfg())


def test_none_only_when_asked_and_recorded_on_every_result():
    with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
        g = Grader(_cfg(isolation="none"))
    with g:
        r = g.grade(TWICE, "def twice(n):\n    return 2 * n\n")
    assert r.error_type == "no_error" and r.isolation == "none"


def test_how_to_fix_names_the_missing_piece(monkeypatch):
    assert "apt-get install -y bubblewrap" in how_to_fix("bubblewrap", "bwrap not found on PATH (install ...)")
    monkeypatch.setattr(sandbox, "is_root", lambda: False)
    hint = how_to_fix("bubblewrap", "bwrap: setting up uid map: Permission denied")
    assert "unprivileged_userns_clone" in hint and "apparmor_restrict_unprivileged_userns" in hint


def test_doctor_names_the_level_and_the_uid():
    lines = dict(sandbox.diagnose())
    level = lines["isolation in force (auto)"]
    assert level.split()[0] in ("bubblewrap", "unshare", "none")
    if level in ("bubblewrap", "unshare"):
        assert "uid" in lines["submissions run as"]
