"""The Dublin importer never guesses: mixed tests, empty users, bad rows; and what the CLI prints."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from simstudent.cli import app
from simstudent.data import DataError, load_dataset

runner = CliRunner()
HEADER = ["submission_id", "func_code", "assignment_id", "func_name", "description", "test", "correct", "user"]
LENIENT = "assert double(2) == 4"
STRICT = "assert double(2) == 4 and double(-1) == -2"
ONLY_POSITIVE = "def double(n):\n    return abs(n) * 2\n"
RIGHT = "def double(n):\n    return n * 2\n"


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


@pytest.fixture
def merged(tmp_path):
    """Two offerings merged: 3 rows graded by the lenient test, 2 by the strict one.
    ONLY_POSITIVE passes the lenient test and fails the strict one, as recorded."""
    return _write(tmp_path / "merged.csv", [
        [1, ONLY_POSITIVE, "a1", "double", "Double n.", LENIENT, "True", "u1"],
        [2, RIGHT, "a1", "double", "Double n.", LENIENT, "True", "u2"],
        [3, "def double(n):\n    return n\n", "a1", "double", "Double n.", LENIENT, "False", "u3"],
        [4, ONLY_POSITIVE, "a1", "double", "Double n.", STRICT, "False", "u4"],
        [5, RIGHT, "a1", "double", "Double n.", STRICT, "True", "u5"],
    ])


def test_mixed_tests_are_an_error_that_counts_rows_and_names_the_flag(merged):
    with pytest.raises(DataError) as info:
        load_dataset(merged)
    msg = str(info.value)
    assert "'a1'" in msg and "3 rows with test 1" in msg and "2 rows with test 2" in msg
    assert "--mixed-tests split" in msg and "merged.csv" in msg


def test_split_makes_one_problem_per_test(merged):
    ds = load_dataset(merged, mixed_tests="split")
    assert sorted(ds.problems) == ["a1@test1", "a1@test2"]
    assert ds.problems["a1@test1"].tests[0].source == LENIENT
    assert ds.problems["a1@test2"].tests[0].source == STRICT
    by_student = {s.student_id: s.problem_id for s in ds.streams}
    assert by_student == {"u1": "a1@test1", "u2": "a1@test1", "u3": "a1@test1", "u4": "a1@test2", "u5": "a1@test2"}
    assert any("a1@test1 (3 rows), a1@test2 (2 rows)" in n for n in ds.provenance.notes)


def test_grade_dataset_refuses_mixed_tests_with_a_one_line_error(merged):
    res = runner.invoke(app, ["grade", "--dataset", str(merged), "--no-cache", "--workers", "1"])
    assert res.exit_code == 2
    assert "--mixed-tests split" in res.output and len(res.output.strip().splitlines()) == 1


def test_grade_dataset_split_grades_each_row_against_its_own_test_and_prints_notes(merged):
    res = runner.invoke(app, ["grade", "--dataset", str(merged), "--mixed-tests", "split", "--no-cache",
                              "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    # ONLY_POSITIVE passes in a1@test1 and fails in a1@test2, as each row's record says.
    assert report["n"] == 5 and report["agreed"] == 5, report["disagreements"]
    assert any("split into a1@test1" in n for n in report["notes"])
    text = runner.invoke(app, ["grade", "--dataset", str(merged), "--mixed-tests", "split", "--no-cache",
                               "--workers", "1"])
    assert text.exit_code == 0 and "note:" in text.stdout and "split into a1@test1" in text.stdout


def test_empty_user_gets_a_stable_synthetic_id_and_is_reported(tmp_path):
    path = _write(tmp_path / "anon.csv", [
        [7, RIGHT, "a1", "double", "d", LENIENT, "True", ""],
        [8, RIGHT, "a1", "double", "d", LENIENT, "True", ""],
        [9, RIGHT, "a1", "double", "d", LENIENT, "True", "u1"],
    ])
    first, again = load_dataset(path), load_dataset(path)
    ids = sorted(s.student_id for s in first.streams)
    assert ids == ["anonymous-7", "anonymous-8", "u1"] == sorted(s.student_id for s in again.streams)
    assert any("2 rows with an empty user" in n for n in first.provenance.notes)
    res = runner.invoke(app, ["data", "stats", str(path)])
    assert res.exit_code == 0 and "2 rows with an empty user" in res.stdout


def test_skip_bad_rows_on_grade_dataset_counts_and_names_them(tmp_path):
    path = _write(tmp_path / "bad.csv", [
        [1, RIGHT, "a1", "double", "d", LENIENT, "True", "u1"],
        ["x", RIGHT, "a1", "double", "d", LENIENT, "True", "u2"],
        [3, RIGHT, "a1", "double", "d", LENIENT, "maybe", "u3"],
    ])
    res = runner.invoke(app, ["grade", "--dataset", str(path), "--no-cache", "--workers", "1"])
    # RIGHT spans three physical lines (two newlines inside the quoted field): row 2 starts on line 5.
    assert res.exit_code == 2 and "line 5 (row 2)" in res.output and "submission_id" in res.output
    res = runner.invoke(app, ["grade", "--dataset", str(path), "--no-cache", "--workers", "1", "--skip-bad-rows",
                              "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["skipped_rows"] == 2 and report["n"] == 1
    assert sum("skipped:" in n for n in report["notes"]) == 2  # each skipped row named with its line
    assert "skipped 1" in res.stderr or "skipped 1" in res.output


def test_mixed_tests_flag_only_for_dublin(tmp_path):
    res = runner.invoke(app, ["data", "stats", str(tmp_path), "--mixed-tests", "split"])
    assert res.exit_code == 2


@pytest.mark.parametrize("command", [["data", "stats"], ["data", "convert"], ["data", "split"], ["grade"], ["run"],
                                     ["cohort"], ["train"], ["metrics"], ["eval", "exp1"], ["eval", "exp2"],
                                     ["eval", "rollout"]])
def test_every_command_that_reads_a_dataset_can_skip_bad_rows(command):
    res = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "--skip-bad-rows" in res.output
