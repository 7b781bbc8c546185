"""A core of the hostile programs at each weaker isolation level (unshare, none).

``test_hostile.py`` runs everything at the strongest level available; here the
fallbacks must still give the right verdicts, keep serving and leave nothing
behind, and hold whatever their level promises (see ``guarantees``). Levels that
cannot start on this machine are skipped with the reason.
"""

from __future__ import annotations

import pytest

import test_hostile as hostile
from simstudent.grader import Grader
from simstudent.grader.sandbox import probe

CORE = ("top_level_infinite_loop", "ignores_sigalrm", "fork_bomb", "double_forked_daemon", "memory_bomb_at_once",
        "output_flood", "garbage_on_result_channel", "segfault", "kill_minus_one", "never_ending_thread",
        "always_equal_object", "reads_stdin_via_input")
CORE_CASES = [c for c in hostile.CASES if c.name in CORE]


@pytest.fixture(scope="module", params=["unshare", "none"])
def level_grader(request):
    ok, why = probe(request.param)
    if not ok:
        pytest.skip(f"isolation {request.param!r} unavailable here: {why}")
    with pytest.warns(RuntimeWarning) if request.param == "none" else _nothing():
        g = Grader(hostile.hostile_config(request.param))
    yield g
    g.close()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_core_is_complete():
    assert len(CORE_CASES) == len(CORE)


@pytest.mark.parametrize("case", CORE_CASES, ids=[c.name for c in CORE_CASES])
def test_hostile_program_at_level(level_grader, case):
    hostile.run_case(level_grader, case)


def test_writes_outside_at_level(level_grader):
    hostile.test_writes_outside_the_sandbox(level_grader)


def test_reads_secrets_at_level(level_grader, tmp_path):
    hostile.test_reads_secrets(level_grader, tmp_path)


def test_loopback_at_level(level_grader):
    hostile.test_loopback_connection(level_grader)


def test_no_state_leak_at_level(level_grader):
    hostile.test_state_does_not_leak_between_submissions(level_grader)


def test_none_is_reported_loudly(level_grader):
    if level_grader.isolation != "none":
        pytest.skip("only the 'none' level warns")
    result = level_grader.grade(hostile.SQUARE, hostile.CORRECT)
    assert result.isolation == "none" and result.error_type == "no_error"
    assert level_grader.isolation_notes
