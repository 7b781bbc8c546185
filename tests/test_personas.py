"""Hand-written demo personas: loading, shape, and habits you can see in the code."""

from __future__ import annotations

import re

import pytest

from simstudent.problems import ProblemSpecError, list_personas, load_persona
from simstudent.schema import Persona

OTHERS = ["pat_prints", "oli_off_by_one", "nia_no_spaces", "dee_docstring", "gus_gives_up"]


@pytest.fixture(scope="module")
def personas() -> dict[str, Persona]:
    return {pid: load_persona(pid) for pid in list_personas()}


def test_student_123_and_four_others_exist(personas):
    assert "student_123" in personas
    assert set(OTHERS) <= set(personas)
    assert len({tuple(p.habits) for p in personas.values()}) == len(personas), "habits must differ"


def test_history_is_earlier_demo_homework(personas):
    for pid, persona in personas.items():
        assert persona.id == pid and persona.description and persona.habits
        assert 2 <= len(persona.history) <= 4, pid
        for stream in persona.history:
            assert stream.student_id == pid
            assert re.fullmatch(r"hw0[1-3]_q\d", stream.problem_id), stream.problem_id
            assert 1 <= len(stream) <= 5
            assert [s.order for s in stream.submissions] == list(range(len(stream)))
            problem = persona.problems[stream.problem_id]
            assert problem.course == "demo" and problem.reference_solution
            for sub in stream.submissions:
                assert problem.function_name in sub.code, (pid, stream.problem_id)


def test_load_by_path_equals_load_by_id(personas):
    from simstudent.problems import personas_dir

    assert load_persona(personas_dir() / "student_123.toml") == personas["student_123"]


def test_print_instead_of_return(personas):
    first = [s.submissions[0].code for s in personas["pat_prints"].history]
    assert all("print(" in c and "return" not in c for c in first[:2])
    last = [s.submissions[-1].code for s in personas["pat_prints"].history]
    assert all("return" in c and "print(" not in c for c in last)


def test_off_by_one(personas):
    first = "\n".join(s.submissions[0].code for s in personas["oli_off_by_one"].history)
    assert "range(1, n)" in first and "k < n" in first and "age <= 12" in first


def test_no_spaces(personas):
    codes = [sub.code for s in personas["nia_no_spaces"].history for sub in s.submissions]
    for code in codes:
        assert not re.search(r"\w [=<>%+*-]=? \w", code), code  # no spaced binary operators
        assert not re.search(r", \w", code), code  # no space after commas
        assert re.search(r"\w[=<>%][=]?\w", code)


def test_copies_docstring(personas):
    persona = personas["dee_docstring"]
    for stream in persona.history:
        skeleton = persona.problems[stream.problem_id].skeleton_code
        docstring = skeleton.split('"""')[1]
        assert all(docstring in sub.code for sub in stream.submissions)
    others = [sub.code for s in personas["student_123"].history for sub in s.submissions]
    assert not any('"""' in c for c in others)


def test_gives_up_early(personas):
    streams = personas["gus_gives_up"].history
    assert all(len(s) <= 2 for s in streams)


def test_unknown_problem_and_bad_fields_are_named(tmp_path):
    path = tmp_path / "ghost.toml"
    path.write_text('id = "ghost"\nhabits = ["x"]\n[[history]]\nproblem_id = "hw99_q9"\nattempts = ["x = 1"]\n')
    with pytest.raises(ProblemSpecError) as info:
        load_persona(path)
    assert info.value.field == "history[0].problem_id" and str(path) in str(info.value)
    path.write_text('id = "ghost"\nhabits = "x"\n')
    with pytest.raises(ProblemSpecError, match="habits"):
        load_persona(path)
    path.write_text('id = "other"\n')
    with pytest.raises(ProblemSpecError, match="file name"):
        load_persona(path)
    with pytest.raises(KeyError, match="student_123"):
        load_persona("nobody_here")
