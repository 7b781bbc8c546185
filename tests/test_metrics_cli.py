"""``simstudent metrics`` end to end: datasets, trajectories, the floor, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from simstudent.cli import app
from simstudent.data.jsonl import append_jsonl, write_dataset
from simstudent.schema import Attempt, Dataset, Stream, Submission, Trajectory
from test_metrics_compare import make_dataset

runner = CliRunner()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture()
def files(tmp_path):
    real = make_dataset(students=6)
    # exp2-style output: one generated code per real slot, order = the slot's position.
    gen = Dataset(streams=[
        Stream(student_id=s.student_id, problem_id=s.problem_id,
               submissions=[Submission(code=sub.code.replace("return", "return  "), order=i, grade=sub.grade)
                            for i, sub in enumerate(s.submissions)])
        for s in real.streams])
    return write_dataset(real, tmp_path / "real.jsonl"), write_dataset(gen, tmp_path / "gen.jsonl"), tmp_path


def test_cli_compares_datasets_with_floor_and_memorisation(files) -> None:
    real, gen, _ = files
    out = _json(runner.invoke(app, ["metrics", str(real), str(gen), "--embedder", "tfidf", "--json", "--floor",
                                    "--repeats", "2", "--train", str(real), "--no-cache"]))
    assert out["pairing"] == "slot" and out["embedder"] == "tfidf"
    allg = next(g for g in out["groups"] if g["group"] == "all")
    assert allg["n_gen"] == out["counts"]["generated"] and allg["n_cells"] == 2
    assert all({"problem_id", "n_real", "n_gen", "knn_distance", "coverage"} <= set(c) for c in allg["cells"])
    assert out["memorisation"]["copy_share"] > 0
    assert out["floor_repeats"] == 2 and out["floor"][0]["repeats"] == 2
    assert out["conventions"]["pass_rate"] == "authors"


def test_cli_prints_tables(files) -> None:
    real, gen, _ = files
    result = runner.invoke(app, ["metrics", str(real), str(gen), "--embedder", "tfidf", "--floor", "--repeats", "1",
                                 "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "KNN distance" in result.stdout and "real-vs-real floor" in result.stdout


def test_cli_reads_trajectories_and_scores_rollouts(files) -> None:
    real, _, tmp = files
    path = tmp / "traj.jsonl"
    for k in range(3):
        append_jsonl(path, Trajectory(student_id=f"s{k}", problem_id="p0", meta={"prefix_len": 1},
                                      attempts=[Attempt(index=0, code="def f0(n):\n    return n + 0\n"),
                                                Attempt(index=1, code="def f0(n):\n    return sum(range(n))\n",
                                                        submitted=True)]))
    out = _json(runner.invoke(app, ["metrics", str(real), str(path), "--embedder", "none", "--json"]))
    assert out["pairing"] == "stream"  # closed-loop attempts are not real slots
    assert out["embedder"] == ""
    assert out["counts"]["generated"] == 6
    # real side = the three streams' continuations after the 1-attempt prefix
    assert out["counts"]["real"] == sum(len(s.submissions) - 1 for s in make_dataset(students=6).streams
                                              if s.problem_id == "p0" and s.student_id in ("s0", "s1", "s2"))
    assert out["rollout"]["n_rollouts"] == 3
    assert 0 <= out["rollout"]["means"]["codebleu"]["mean"] <= 1


def test_cli_reads_run_folder_records_with_injected_prefix(files) -> None:
    real, _, tmp = files
    first = make_dataset(students=6).streams[0]  # s0 / p0
    traj = Trajectory(student_id="sim", problem_id="p0", meta={"prefix_len": 1, "real_student_id": "s0"},
                      attempts=[Attempt(index=0, code=first.submissions[0].code),  # the injected real prefix
                                Attempt(index=1, code=first.submissions[1].code)])
    path = tmp / "trajectories.jsonl"
    append_jsonl(path, {"id": "s0:p0", "skipped": False, "trajectory": traj.model_dump(mode="json")})
    append_jsonl(path, {"id": "s1:p0", "skipped": True, "trajectory": traj.model_dump(mode="json")})
    out = _json(runner.invoke(app, ["metrics", str(real), str(path), "--embedder", "none", "--json"]))
    ro = out["rollout"]
    assert ro["n_rollouts"] == 1
    # prefix dropped: the one generated attempt equals the real attempt 1, the first real step after the prefix
    assert ro["per_rollout"][0]["n_generated"] == 1
    assert ro["per_rollout"][0]["ast_match"] == 1.0 and ro["per_rollout"][0]["codebleu"] == 1.0


def test_cli_errors_are_clear(tmp_path) -> None:
    result = runner.invoke(app, ["metrics"])
    assert result.exit_code == 2 and "REAL and GENERATED" in result.output
    result = runner.invoke(app, ["metrics", str(tmp_path / "nope.jsonl"), str(tmp_path / "nope2.jsonl")])
    assert result.exit_code == 2 and "nope.jsonl" in result.output
    result = runner.invoke(app, ["metrics", str(tmp_path), str(tmp_path), "--pass-rate", "half"])
    assert result.exit_code == 2 and "pass_rate" in result.output


def test_cli_real_against_itself_on_itap_covers_every_cell(itap_dir) -> None:
    """Real codes as their own generator: coverage 1.0 in every cell with enough codes."""
    out = _json(runner.invoke(app, ["metrics", str(itap_dir), str(itap_dir), "--embedder", "tfidf", "--json",
                                    "--no-cache"]))
    for g in out["groups"]:
        covered = [c["coverage"] for c in g["cells"] if c["coverage"] is not None]
        assert covered and all(v == 1.0 for v in covered), g["group"]
        # n/a exactly where a cell has at most 10 real codes
        assert all((c["coverage"] is None) == (c["n_real"] <= 10) for c in g["cells"])
        assert g["n_cells_coverage"] == len(covered)
