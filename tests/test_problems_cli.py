"""``simstudent problems list|show|validate``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from simstudent.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["problems", *args])


def test_list_json_has_the_demo_course():
    result = _run("list", "--json", "--course", "demo")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) >= 24
    assert set(rows[0]) == {"id", "course", "homework", "title", "topic", "n_tests"}
    hw04_q2 = next(r for r in rows if r["id"] == "hw04_q2")
    assert hw04_q2["course"] == "demo" and hw04_q2["n_tests"] >= 4


def test_list_table():
    result = _run("list", "--course", "demo")
    assert result.exit_code == 0
    assert "hw04_q2" in result.stdout and "Climbing the Stairs" in result.stdout


def test_show_hides_the_solution_unless_asked():
    shown = _run("show", "hw04_q2")
    assert shown.exit_code == 0, shown.output
    assert "count_stairs" in shown.stdout and "YOUR CODE HERE" in shown.stdout
    assert "count_stairs(n - 1) + count_stairs(n - 2)" not in shown.stdout
    full = _run("show", "hw04_q2", "--with-solution")
    assert "count_stairs(n - 1) + count_stairs(n - 2)" in full.stdout
    data = json.loads(_run("show", "hw04_q2", "--json").stdout)
    assert data["id"] == "hw04_q2" and "reference_solution" not in data and data["n_tests"] >= 4


def test_show_unknown_problem_fails():
    result = _run("show", "hw99_q9")
    assert result.exit_code != 0 and "hw99_q9" in result.output


def test_validate_demo_passes():
    result = _run("validate", "--course", "demo", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report) >= 24 and all(r["ok"] for r in report)


def test_validate_names_file_and_field_and_exits_nonzero(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    good = (
        'title = "t"\ninstructions = "Write f."\n'
        "skeleton_code = '''\ndef f(x):\n    \"\"\"\n    >>> f(2)\n    4\n    \"\"\"\n'''\n"
    )
    (folder / "wrong_ref.toml").write_text(
        'id = "wrong_ref"\n' + good + "reference_solution = \"def f(x):\\n    return x + 3\\n\"\n"
    )
    (folder / "bad_key.toml").write_text('id = "bad_key"\nsolution = "x"\n' + good)
    result = _run("validate", str(folder))
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "wrong_ref.toml: reference_solution: fails" in out
    assert "bad_key.toml: solution: unknown key" in out
    assert "2 specs, 0 ok, 2 failed" in out
