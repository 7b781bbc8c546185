"""``simstudent data ...`` on the hand-made fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from simstudent.cli import app

FIXTURES = Path(__file__).parent / "fixtures" / "data"
runner = CliRunner()


def test_stats_json_is_one_object():
    result = runner.invoke(app, ["data", "stats", str(FIXTURES / "progsnap2_tiny"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["students"], out["problems"], out["submissions"], out["streams"]) == (3, 3, 7, 4)
    assert out["events_by_type"] == {"Submit": 7, "X-HintRequest": 2}
    assert out["stream_length"]["max"] == 3 and out["skipped_rows"] == 0


def test_stats_tables():
    result = runner.invoke(app, ["data", "stats", str(FIXTURES / "dublin_tiny.csv")])
    assert result.exit_code == 0, result.output
    assert "submissions" in result.stdout and "stream length" in result.stdout


def test_bad_input_exit_code_and_skip_flag(tmp_path):
    folder = tmp_path / "ps2"
    shutil.copytree(FIXTURES / "progsnap2_tiny", folder)
    main = folder / "MainTable.csv"
    main.write_bytes(main.read_bytes().replace(b",12,", b",,", 1))
    result = runner.invoke(app, ["data", "stats", str(folder), "--json"])
    assert result.exit_code == 2
    assert "field 'CodeStateID'" in result.output and "line 2" in result.output
    result = runner.invoke(app, ["data", "stats", str(folder), "--json", "--skip-bad-rows"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["skipped_rows"] == 1 and out["skip_reasons"] == {"MainTable.csv: missing CodeStateID": 1}


def test_convert_and_split(tmp_path):
    out = tmp_path / "tiny.jsonl"
    result = runner.invoke(app, ["data", "convert", str(FIXTURES / "progsnap2_tiny"), str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["data", "stats", str(out), "--json"])
    assert json.loads(result.stdout)["submissions"] == 7
    manifest = tmp_path / "split.json"
    result = runner.invoke(app, ["data", "split", str(FIXTURES / "progsnap2_tiny"), "--itap-fold", "0",
                                 "--test-problems", "0", "--out", str(manifest), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["test_students"] == 1 and summary["test_NS_OP_streams"] == 2
    assert json.loads(manifest.read_text())["test_students"] == ["S2"]


def test_split_options_have_the_same_names_in_data_split_train_and_eval():
    import typer.main

    from simstudent.cli import app

    group = typer.main.get_command(app)
    ctx = group.make_context("simstudent", ["data", "split", "--help"], resilient_parsing=True)

    def options(*path: str) -> set[str]:
        cmd = group
        for name in path:
            cmd = cmd.get_command(ctx, name)
        return {o for p in cmd.params for o in getattr(p, "opts", [])}

    shared = {"--split-seed", "--test-fraction", "--problem-fraction", "--itap-fold"}
    for path in (("data", "split"), ("train",), ("eval", "exp1"), ("eval", "exp2"), ("eval", "rollout")):
        assert shared <= options(*path), (path, shared - options(*path))
