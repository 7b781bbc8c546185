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
    env = dict(os.environ, COLUMNS="400")  # wide enough that rich does not wrap a one-line error
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


FAKE = ["--backend", "test_agent_fakes:HashBackend"]


def test_missing_gaps_file_is_one_line_exit_2(tmp_path):
    for cmd in (["run", "--problem", "hw04_q2", "--persona", "student_123"],
                ["cohort", "--problems", "hw04_q2", "--personas", "student_123", "--out", str(tmp_path / "c")]):
        proc = run_cli(*cmd, *FAKE, "--gaps", str(tmp_path / "nope.csv"), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--gaps" in lines[0] and "nope.csv" in lines[0] and "no such file" in lines[0]
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "c").exists()  # nothing left behind


def test_bad_backend_class_is_one_line_exit_2_and_leaves_nothing(tmp_path):
    proc = run_cli("cohort", "--problems", "hw04_q2", "--personas", "student_123", "--out", str(tmp_path / "c"),
                   "--backend", "test_agent_fakes:NoSuchBackend", cwd=tmp_path)
    assert proc.returncode == 2 and "NoSuchBackend" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c").exists()


def test_cohort_that_failed_to_start_then_corrected_rerun(tmp_path):
    out = tmp_path / "c"
    args = ["cohort", "--problems", "hw04_q2", "--personas", "student_123", "--out", str(out), "--no-progress"]
    failed = run_cli(*args, "--backend", "test_agent_fakes:FailingBackend", "--max-attempts", "3", cwd=tmp_path)
    assert failed.returncode == 2 and "connection refused" in failed.stderr
    fixed = run_cli(*args, *FAKE, "--max-attempts", "4", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr


def test_refused_resume_names_the_setting(tmp_path):
    out = tmp_path / "c"
    args = ["cohort", "--problems", "hw04_q2", "--personas", "student_123", "--out", str(out), "--no-progress", *FAKE]
    assert run_cli(*args, "--max-attempts", "3", cwd=tmp_path).returncode == 0
    proc = run_cli(*args, "--max-attempts", "4", cwd=tmp_path)
    assert proc.returncode == 2
    assert "student.max_attempts: 3 on disk, 4 asked" in proc.stderr and "Traceback" not in proc.stderr


def test_cohort_ends_with_a_summary_table_and_the_report_reads_the_folder(tmp_path):
    out = tmp_path / "c"
    proc = run_cli("cohort", "--problems", "hw04_q2,hw03_q1", "--personas", "student_123,pat_prints", "--out",
                   str(out), "--no-progress", *FAKE, "--max-attempts", "3", "--seed", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for column in ("problem", "passed", "gave up", "ran out", "truncated", "stop reasons"):
        assert column in proc.stdout
    assert "hw04_q2" in proc.stdout and "hw03_q1" in proc.stdout and "all" in proc.stdout
    assert "{" not in proc.stdout  # a table, not a printed dict
    report = run_cli("cohort-report", str(out), "--json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    deg = data["degeneration"]
    assert deg["attempts"] == data["summary"]["attempts"] > 0
    # HashBackend always writes `def <required function>(...)`, never loops, never hits the limit.
    assert deg["shares"] == {"repeats": 0.0, "truncated": 0.0, "defines_function": 1.0}
    missing = run_cli("cohort-report", str(tmp_path / "nothing"), cwd=tmp_path)
    assert missing.returncode == 2 and "cohort.json" in missing.stderr


def test_truncated_attempts_are_shown_as_truncated_not_as_syntax_errors(tmp_path):
    out = tmp_path / "t.json"
    proc = run_cli("run", "--problem", "hw04_q2", "--persona", "student_123", "--backend",
                   "test_agent_fakes:LoopingBackend", "--max-attempts", "2", "--max-new-tokens", "64",
                   "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "truncated at 64 tokens" in proc.stdout and "cut off by the token limit" in proc.stdout
    assert "final: cut by the token limit, 0/8 tests" in proc.stdout
    traj = json.loads(out.read_text())
    assert [a["finish_reason"] for a in traj["attempts"]] == ["length", "length"]
    assert all(a["completion_tokens"] == 64 and a["sampling"]["max_new_tokens"] == 64 for a in traj["attempts"])
    cohort = tmp_path / "c"
    assert run_cli("cohort", "--problems", "hw04_q2", "--personas", "student_123", "--out", str(cohort),
                   "--no-progress", "--backend", "test_agent_fakes:LoopingBackend", "--max-attempts", "2",
                   cwd=tmp_path).returncode == 0
    report = run_cli("cohort-report", str(cohort), cwd=tmp_path)
    assert "cut by the token limit: 100.0 %" in report.stdout
    assert "repeat a line or block 3+ times in a row: 100.0 %" in report.stdout
    assert "define the required function: 100.0 %" in report.stdout


def test_ctrl_c_keeps_the_attempts_made(tmp_path):
    import signal
    import time

    out = tmp_path / "t.json"
    env = dict(os.environ, HASH_BACKEND_DELAY="0.5", HASH_BACKEND_NO_SUBMIT="1")
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    proc = subprocess.Popen([sys.executable, "-c", "from simstudent.cli import main; main()", "run", "--problem",
                             "hw04_q2", "--persona", "student_123", *FAKE, "--max-attempts", "50", "--keep-going",
                             "--out", str(out)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # A job started in the background by a non-interactive shell (as CI
                            # may start this suite) inherits SIGINT ignored, and Python then never
                            # raises KeyboardInterrupt: give the child the terminal's default.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and len(json.loads(out.read_text())["attempts"]) >= 2:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    attempts = json.loads(out.read_text())["attempts"]
    assert len(attempts) >= 2 and [a["index"] for a in attempts] == list(range(len(attempts)))
    assert "interrupted" in stderr and str(len(attempts)) in stderr


def test_persona_from_a_real_student(tmp_path, itap_dir):
    proc = run_cli("run", "--data", str(itap_dir), "--persona", "itap:S002", "--problem", "hw04_q2", *FAKE,
                   "--max-attempts", "1", "--json", "--out", str(tmp_path / "t.json"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    traj = json.loads(proc.stdout)
    assert traj["student_id"] == "itap:S002" and traj["meta"]["persona"] == "itap:S002"
    # The real student's own ITAP code is the past-problem context of the prompt.
    from simstudent.data import load_dataset

    own = [s for s in load_dataset(itap_dir).streams if s.student_id == "S002"]
    assert any(sub.code.strip().splitlines()[0] in traj["attempts"][0]["prompt"]
               for s in own for sub in s.submissions if sub.code.strip())
    # Without the dataset the name says what is missing.
    proc = run_cli("run", "--persona", "itap:S002", "--problem", "hw04_q2", *FAKE, cwd=tmp_path)
    assert proc.returncode == 2 and "itap:S002" in proc.stderr and "--data" in proc.stderr
    proc = run_cli("run", "--data", str(itap_dir), "--persona", "itap:NOBODY", "--problem", "hw04_q2", *FAKE,
                   cwd=tmp_path)
    assert proc.returncode == 2 and "NOBODY" in proc.stderr


def test_flags_show_no_bool_metavar_and_sampling_defaults_are_shown(tmp_path):
    for cmd in ("run", "cohort"):
        proc = run_cli(cmd, "--help", cwd=tmp_path)
        assert proc.returncode == 0
        for line in proc.stdout.splitlines():
            if "--no-context" in line or "--keep-going" in line or "--json" in line:
                assert "<bool>" not in line, line
        for default in ("[default: 0.7]", "[default: 0.8]", "[default: 20]", "[default: 192]"):
            assert default in proc.stdout, (cmd, default)


def test_run_refuses_an_incomplete_adapter_before_loading_a_model(tmp_path):
    adapter = tmp_path / "half-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")  # no simstudent.json, no weights
    proc = run_cli("run", "--problem", "hw04_q2", "--persona", "student_123", "--adapter", str(adapter), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(adapter / "simstudent.json") in lines[0] and "missing" in lines[0]
    assert "loading model" not in proc.stderr and "Traceback" not in proc.stderr
