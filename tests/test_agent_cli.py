"""``simstudent run`` end to end with the real grader, problems and personas; the model
is the deterministic HashBackend (tests/test_agent_fakes.py), loaded through
``--backend module:Class``. The real default model runs in test_agent_run_slow.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    return subprocess.run([sys.executable, "-c", "from simstudent.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=cwd)


def test_run_writes_the_trajectory_and_shows_each_attempt(tmp_path):
    proc = run_cli("run", "--problem", "hw04_q2", "--persona", "student_123", "--backend",
                   "test_agent_fakes:HashBackend", "--max-attempts", "4", "--seed", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / "run-hw04_q2-student_123-3.json"  # the default --out
    traj = json.loads(out.read_text())
    n = len(traj["attempts"])
    assert 1 <= n <= 4 and traj["stop_reason"] in ("submitted", "max_attempts", "stalled", "passed")
    assert all(a["grade"]["total"] == 8 for a in traj["attempts"])
    for i in range(1, n + 1):
        assert f"attempt {i}" in proc.stdout
    assert "edit distance" in proc.stdout and "passed" in proc.stdout
    # Same seed, same trajectory.
    again = run_cli("run", "--problem", "hw04_q2", "--persona", "student_123", "--backend",
                    "test_agent_fakes:HashBackend", "--max-attempts", "4", "--seed", "3", "--json",
                    "--out", str(tmp_path / "b.json"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [a["code"] for a in json.loads(again.stdout)["attempts"]] == [a["code"] for a in traj["attempts"]]


def test_run_with_a_dataset_student(tmp_path, itap_dir):
    proc = run_cli("run", "--data", str(itap_dir), "--persona", "S002", "--problem", "oneToN", "--backend",
                   "test_agent_fakes:HashBackend", "--max-attempts", "2", "--json", "--out",
                   str(tmp_path / "t.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    traj = json.loads(proc.stdout)
    assert traj["student_id"] == "S002" and traj["problem_id"] == "oneToN"
    assert traj["meta"]["gaps"].startswith("dataset:itap")  # real ITAP gaps time the attempts
    assert "PAST PROBLEM SUBMISSIONS" in traj["attempts"][0]["prompt"]


def test_unknown_persona_is_a_clear_error(tmp_path):
    proc = run_cli("run", "--problem", "hw04_q2", "--persona", "nobody", "--backend",
                   "test_agent_fakes:HashBackend", cwd=tmp_path)
    assert proc.returncode == 2
    assert "nobody" in proc.stderr and "student_123" in proc.stderr
