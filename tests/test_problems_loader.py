"""The problem spec loader: demo course shape, lookups, and errors that name file and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simstudent.problems import (
    ProblemSpecError,
    find_problem,
    load_all_problems,
    load_problem_file,
    load_problems,
)
from simstudent.paths import SCENARIOS_DIR

GOOD = '''
id = "{id}"
title = "Add one"
homework = "hw01"
topic = "functions"
tags = ["functions"]
function_name = "add_one"
instructions = """
Write add_one(x), which returns x + 1.
"""
skeleton_code = \'\'\'
def add_one(x):
    """
    >>> add_one(1)
    2
    """
    "*** YOUR CODE HERE ***"
\'\'\'
reference_solution = \'\'\'
def add_one(x):
    return x + 1
\'\'\'
'''


def write_spec(folder: Path, pid: str = "q1", text: str | None = None, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.toml"
    path.write_text((text if text is not None else GOOD.format(id=pid)) + extra)
    return path


def test_good_spec_loads_with_course_from_folder(tmp_path):
    path = write_spec(tmp_path / "mycourse")
    p = load_problem_file(path)
    assert p.id == "q1" and p.course == "mycourse" and p.function_name == "add_one"
    # no `doctests` key: the skeleton's examples are the tests
    assert [(t.kind, t.source, t.expected) for t in p.tests] == [("doctest", "add_one(1)", "2")]


def test_doctests_and_extra_tests_are_combined(tmp_path):
    extra = '''
doctests = \'\'\'
>>> add_one(1)
2
>>> add_one(-1)
0
\'\'\'
[[tests]]
kind = "assert"
source = "assert add_one(5) == 6"
[[tests]]
kind = "io"
source = "3"
expected = "4"
[[tests]]
kind = "doctest"
source = """
>>> add_one(9)
10
>>> add_one(0)
1
"""
'''
    p = load_problem_file(write_spec(tmp_path / "c", extra=extra))
    assert [t.kind for t in p.tests] == ["doctest", "doctest", "assert", "io", "doctest", "doctest"]
    assert p.tests[3].expected == "4"
    assert p.tests[5].source == "add_one(0)" and p.tests[5].expected == "1"


def _error(path: Path) -> ProblemSpecError:
    with pytest.raises(ProblemSpecError) as info:
        load_problem_file(path)
    err = info.value
    assert str(path) in str(err), "the error must name the file"
    return err


@pytest.mark.parametrize(
    "mutate, field, words",
    [
        (lambda s: s.replace('id = "q1"\n', ""), "id", "missing"),
        (lambda s: s.replace('id = "q1"', 'id = "q2"'), "id", "file name"),
        (lambda s: s + '\ncolour = "red"\n', "colour", "unknown key"),
        (lambda s: s.replace('title = "Add one"', "title = 3"), "title", "must be a string"),
        (lambda s: s.replace('tags = ["functions"]', 'tags = "functions"'), "tags", "list"),
        (lambda s: s.replace('tags = ["functions"]', 'tags = ["a", 1]'), "tags[1]", "string"),
        (lambda s: s.replace('homework = "hw01"', 'course = "other"'), "course", "folder name"),
        (lambda s: s.replace("reference_solution", "solution"), "solution", "unknown key"),
        (lambda s: s + "\n[[tests]]\nkind = \"unit\"\nsource = \"x\"\n", "tests[0].kind", "unknown test kind"),
        (lambda s: s + "\n[[tests]]\nkind = \"assert\"\n", "tests[0].source", "missing"),
        (lambda s: s + "\n[[tests]]\nkind = \"assert\"\nsource = \"assert (\"\n", "tests[0].source", "not valid Python"),
        (lambda s: s + "\ndoctests = '''\n>>>add_one(1)\n2\n'''\n", "doctests", "do not parse"),
        (lambda s: s + "\ndoctests = '''\n>>> add_one(1\n2\n'''\n", "doctests", "not valid Python"),
        (lambda s: s.replace('instructions = """', 'instructions = """\n"""\nbroken = """'), "broken", "unknown"),
        (lambda s: s + "\ntitle = 'twice'\n", "(toml)", "not valid TOML"),
    ],
)
def test_broken_specs_name_file_and_field(tmp_path, mutate, field, words):
    path = write_spec(tmp_path / "c", text=mutate(GOOD.format(id="q1")))
    err = _error(path)
    assert err.field == field
    assert words in err.message
    assert f": {field}: " in str(err)


def test_invalid_toml_reports_the_line(tmp_path):
    path = write_spec(tmp_path / "c", text='id = "q1"\ntitle = \n')
    err = _error(path)
    assert err.field == "(toml)" and "line 2" in err.message


def test_demo_course_shape():
    demo = load_problems("demo")
    assert len(demo) >= 24
    by_hw: dict[str, list[str]] = {}
    for pid, p in demo.items():
        assert re.fullmatch(r"hw0[1-6]_q[1-5]", pid), pid
        assert p.homework == pid[:4] and p.course == "demo"
        by_hw.setdefault(p.homework, []).append(pid)
        doctests = [t for t in p.tests if t.kind == "doctest"]
        assert len(doctests) >= 4, pid
        assert '"*** YOUR CODE HERE ***"' in p.skeleton_code, pid
        assert ">>>" in p.skeleton_code, pid  # CS61A style: examples in the docstring
        assert p.reference_solution and p.reference_solution not in p.skeleton_code
        assert len(p.instructions.split()) >= 50, f"{pid}: instructions read like a handout"
    assert sorted(by_hw) == [f"hw0{i}" for i in range(1, 7)]
    assert all(3 <= len(v) <= 5 for v in by_hw.values()), by_hw
    topics = {p.topic for p in demo.values()}
    for needed in ["functions and control flow", "higher-order functions", "recursion", "tree recursion",
                   "lists and sequences", "dictionaries", "trees", "linked lists", "object-oriented programming"]:
        assert needed in topics, needed


def test_hw04_q2_is_the_recursion_demo():
    p = find_problem("hw04_q2")
    assert p.course == "demo" and p.topic == "recursion" and p.function_name == "count_stairs"
    assert any(t.source == "count_stairs(0)" and t.expected == "1" for t in p.tests)
    assert find_problem("demo/hw04_q2") == p


def test_trees_and_links_use_fixed_code():
    demo = load_problems(SCENARIOS_DIR / "demo")
    assert any("def tree(" in p.fixed_code for p in demo.values() if p.topic == "trees")
    assert any("class Link" in p.fixed_code for p in demo.values() if p.topic == "linked lists")


def test_find_problem_errors(tmp_path):
    write_spec(tmp_path / "a", "q1")
    write_spec(tmp_path / "b", "q1")
    with pytest.raises(LookupError, match="several courses"):
        find_problem("q1", search=[tmp_path / "a", tmp_path / "b"])
    assert find_problem("q1", search=[tmp_path / "b"]).course == "b"
    with pytest.raises(KeyError, match="no problem 'nope'"):
        find_problem("nope")
    with pytest.raises(FileNotFoundError, match="no problem folder or course"):
        load_problems("no_such_course")


def test_load_all_problems_skips_personas(tmp_path):
    write_spec(tmp_path / "demo2", "q1")
    (tmp_path / "personas").mkdir()
    (tmp_path / "personas" / "someone.toml").write_text('id = "someone"\n')
    assert list(load_all_problems(tmp_path)) == ["demo2/q1"]
