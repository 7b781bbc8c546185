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
    comp = out["comparison"]
    assert comp["pairing"] == "slot" and comp["embedder"] == "tfidf"
    assert comp["groups"]["overall"]["n_pairs"] == comp["n_generated"]
    assert comp["memorisation"]["copy_share"] > 0
    assert out["floor"]["repeats"] == 2 and out["floor"]["embedder"] == "tfidf"
    assert "groups.overall.embedding.knn_distance" in out["floor"]["aggregate"]


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
    assert out["comparison"]["pairing"] == "stream"  # closed-loop attempts are not real slots
    assert out["comparison"]["embedder"] is None
    assert out["comparison"]["n_generated"] == 6
    # real side = the three streams' continuations after the 1-attempt prefix
    assert out["comparison"]["n_real"] == sum(len(s.submissions) - 1 for s in make_dataset(students=6).streams
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
    assert result.exit_code == 2 and "--floor-only" in result.output
    result = runner.invoke(app, ["metrics", str(tmp_path / "nope.jsonl"), str(tmp_path / "nope2.jsonl")])
    assert result.exit_code == 2 and "nope.jsonl" in result.output


def test_cli_floor_only_on_itap(itap_dir) -> None:
    out = _json(runner.invoke(app, ["metrics", "--floor-only", str(itap_dir), "--embedder", "tfidf", "--repeats", "1",
                                    "--json", "--no-by-problem", "--no-cache"]))
    assert out["comparison"] is None
    agg = out["floor"]["aggregate"]
    assert out["floor"]["n_students"] > 80
    assert agg["groups.overall.n_real"]["mean"] + agg["groups.overall.n_generated"]["mean"] == 2801
    assert 0 < agg["groups.stage:last.embedding.coverage"]["mean"] <= 1
    assert agg["groups.overall.embedding.knn_distance"]["mean"] > 0
    # ITAP has no tests, so no pass rate; the log's verdict is reported instead.
    assert 0 < agg["groups.overall.functional.real.recorded_correct.mean"]["mean"] < 1
    assert agg["groups.overall.style.pep8.real.mean"]["mean"] > 0
