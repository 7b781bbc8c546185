"""validate_problem with the real sandboxed grader: every committed demo spec is
sound, and broken specs are caught with the field named."""

from __future__ import annotations

import pytest

from simstudent.problems import list_personas, load_persona, load_problems, validate_problem, validate_problems
from simstudent.problems.spec import load_problem_file


@pytest.fixture(scope="module")
def demo():
    return load_problems("demo")


def test_every_demo_spec_validates(grader, demo):
    errors = validate_problems(demo.values(), grader)
    assert len(errors) == len(demo) >= 24
    assert {k: v for k, v in errors.items() if v} == {}


def test_reference_passes_and_skeleton_fails_in_the_grader(grader, demo):
    p = demo["hw04_q2"]
    ref, skel = grader.grade_many([(p, p.reference_solution), (p, p.skeleton_code)])
    assert ref.error_type == "no_error" and ref.passed == ref.total == len(p.tests)
    assert skel.error_type != "no_error" and skel.passed < skel.total


def _broken(demo, **update):
    return demo["hw01_q2"].model_copy(update=update)


def test_wrong_reference_is_reported(grader, demo):
    bad = _broken(demo, reference_solution="def digit_sum(n):\n    return n % 10\n")
    errors = validate_problem(bad, grader)
    assert len(errors) == 1 and errors[0].startswith("reference_solution: fails")
    assert "digit_sum(2024)" in errors[0]


def test_passing_skeleton_is_reported(grader, demo):
    p = demo["hw01_q2"]
    errors = validate_problem(p.model_copy(update={"skeleton_code": p.reference_solution}), grader)
    assert errors == ["skeleton_code: passes every test (it must fail at least one)"]


def test_static_checks(grader, demo):
    errors = validate_problem(_broken(demo, instructions="  ", tests=[], function_name="digits"), grader)
    fields = [e.split(":")[0] for e in errors]
    assert "instructions" in fields and "tests" in fields and "function_name" in fields
    errors = validate_problem(_broken(demo, reference_solution="def digit_sum(n)\n    return 1\n"), grader)
    assert errors and errors[0].startswith("reference_solution: does not compile")


def test_wrong_docstring_example_is_reported(grader, demo):
    p = demo["hw01_q2"]
    skeleton = p.skeleton_code.replace(">>> digit_sum(7)\n    7", ">>> digit_sum(7)\n    8")
    errors = validate_problem(p.model_copy(update={"skeleton_code": skeleton}), grader)
    assert len(errors) == 1 and errors[0].startswith("skeleton_code: a docstring example fails")


def test_fixed_code_is_given_to_every_attempt(grader, tmp_path, demo):
    # tree_sum's tests need the tree ADT from fixed_code: the reference alone would crash.
    p = demo["hw06_q1"]
    assert "def tree(" not in p.reference_solution
    assert grader.grade(p, p.reference_solution).error_type == "no_error"


def test_persona_attempts_graded_show_their_habits(grader):
    graded = {pid: load_persona(pid, grader=grader) for pid in list_personas()}
    finals = [s.submissions[-1].recorded_correct for p in graded.values() for s in p.history]
    assert sum(finals) >= 0.75 * len(finals), "the last attempt is usually correct"
    for pid, persona in graded.items():
        for stream in persona.history:
            if len(stream) > 1:
                assert not stream.submissions[0].recorded_correct, (pid, stream.problem_id)
            if pid != "gus_gives_up":
                assert stream.submissions[-1].recorded_correct, (pid, stream.problem_id)
    gus = graded["gus_gives_up"].history
    assert any(not s.submissions[-1].recorded_correct for s in gus), "gives up unsolved"
    # printing instead of returning fails the tests that use the value
    pat_first = graded["pat_prints"].history[0].submissions[0].grade
    assert pat_first.error_type in ("logical", "runtime") and pat_first.passed < pat_first.total


def test_spec_file_with_skeleton_examples_only(grader, tmp_path):
    folder = tmp_path / "mini"
    folder.mkdir()
    (folder / "q1.toml").write_text(
        'id = "q1"\ntitle = "t"\ninstructions = "Write f."\nfunction_name = "f"\n'
        "skeleton_code = '''\ndef f(x):\n    \"\"\"\n    >>> f(2)\n    4\n    \"\"\"\n"
        "    \"*** YOUR CODE HERE ***\"\n'''\n"
        "reference_solution = '''\ndef f(x):\n    return x * 2\n'''\n"
    )
    assert validate_problem(load_problem_file(folder / "q1.toml"), grader) == []
