"""Cohorts: batching, append-only output, resume after SIGKILL, exports, tutor comparison.

The grader, problems and personas are the real ones; the model is the deterministic
HashBackend from tests/test_agent_fakes.py (a fake of the model only), so that an
interrupted and an uninterrupted run can be compared attempt by attempt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simstudent.agent.cohort import (
    ATTEMPTS_FILE,
    AttemptRecord,
    Cohort,
    CohortConfig,
    CohortError,
    load_trajectories,
    read_records,
)
from simstudent.agent.export import export_jsonl, export_progsnap2
from simstudent.agent.student import StudentConfig
from simstudent.agent.tutor import compare_with_tutor
from conftest import DEMO_PERSONAS, DEMO_PROBLEMS
from test_agent_fakes import HashBackend

TESTS_DIR = Path(__file__).resolve().parent


def config(**kw) -> CohortConfig:
    # Without redraws every cohort step is exactly one generate call (the redraw tests are
    # in test_continuous.py); a <SUBMIT> ends a trajectory, as the hash backend's scripts expect.
    student = StudentConfig(max_attempts=kw.pop("max_attempts", 5), seed=kw.pop("seed", 11), save_prompts=False,
                            redraw_repeats=0, ignore_failing_submit=False)
    return CohortConfig(problems=DEMO_PROBLEMS, personas=DEMO_PERSONAS, student=student, **kw)


def attempts_on_disk(out: Path) -> dict[tuple, dict]:
    """Every attempt keyed by (student, problem, index); the fields that must reproduce."""
    recs = read_records(out / ATTEMPTS_FILE, AttemptRecord)
    table = {}
    for r in recs:
        key = (r.student_id, r.problem_id, r.index)
        assert key not in table, f"duplicate attempt {key}"
        table[key] = {"code": r.code, "completion": r.completion, "submitted": r.submitted,
                      "timestamp": r.timestamp, "error_type": r.grade.error_type,
                      "passed": r.grade.passed, "hint": r.hint}
    return table


def test_one_batched_call_per_step_and_append_only_output(tmp_path, grader, world):
    problems, personas = world
    backend = HashBackend()
    cohort = Cohort(backend, grader, problems, personas, config(n_per_persona=2), tmp_path / "c")
    trajs = cohort.run(progress=False)
    assert len(trajs) == 2 * 2 * 2  # personas x copies x problems
    assert {t.student_id for t in trajs} == {"student_123#0", "student_123#1", "pat_prints#0", "pat_prints#1"}
    # One generate call per step, with one request per live student.
    assert len(backend.calls) == cohort.steps and backend.calls[0] == 8
    assert backend.calls == sorted(backend.calls, reverse=True)
    lines = (tmp_path / "c" / ATTEMPTS_FILE).read_text().splitlines()
    assert len(lines) == sum(len(t.attempts) for t in trajs) == sum(backend.calls)
    assert all(t.stop_reason in ("submitted", "max_attempts", "stalled", "passed") for t in trajs)
    assert all(a.grade is not None and a.grade.total == problems[t.problem_id].tests.__len__()
               for t in trajs for a in t.attempts)
    on_disk = load_trajectories(tmp_path / "c")
    assert sorted((t.student_id, t.problem_id) for t in on_disk) == sorted((t.student_id, t.problem_id) for t in trajs)


def test_resume_in_process_equals_uninterrupted(tmp_path, grader, world):
    problems, personas = world
    full = tmp_path / "full"
    Cohort(HashBackend(), grader, problems, personas, config(), full).run(progress=False)
    part = tmp_path / "part"
    Cohort(HashBackend(), grader, problems, personas, config(), part).run(progress=False, max_steps=2)
    # A kill mid-write leaves a torn last line: it must be dropped, not duplicated or kept.
    with open(part / ATTEMPTS_FILE, "ab") as handle:
        handle.write(b'{"student_id": "student_123", "persona_id": "stud')
    resumed = Cohort(HashBackend(), grader, problems, personas, config(), part)
    resumed.run(progress=False)
    assert any("torn" in n for n in resumed.notes)
    assert attempts_on_disk(part) == attempts_on_disk(full)
    assert len(load_trajectories(part)) == len(load_trajectories(full)) == 4


def test_other_settings_in_the_same_folder_are_refused(tmp_path, grader, world):
    problems, personas = world
    Cohort(HashBackend(), grader, problems, personas, config(), tmp_path).run(progress=False, max_steps=1)
    with pytest.raises(CohortError, match="different cohort"):
        Cohort(HashBackend(), grader, problems, personas, config(seed=12), tmp_path).run(progress=False)


def _cohort_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from simstudent.cli import main; main()", "cohort",
            "--problems", ",".join(DEMO_PROBLEMS), "--personas", ",".join(DEMO_PERSONAS), "--n-per-persona", "2",
            "--backend", "test_agent_fakes:HashBackend", "--max-attempts", "6", "--seed", "5",
            "--out", str(out), "--no-progress", *extra]


def _env(delay: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    env["HASH_BACKEND_DELAY"] = delay
    return env


def test_sigkill_and_rerun_loses_and_duplicates_nothing(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cohort_cmd(full), env=_env("0"), check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen(_cohort_cmd(killed), env=_env("0.4"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    path = killed / ATTEMPTS_FILE
    deadline = time.monotonic() + 120
    # Kill once at least two steps (16 + attempts) are on disk but the run is not over.
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_bytes().splitlines()) >= 17:
            break
        assert proc.poll() is None, "the cohort finished before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    n_before = len(read_records(path, AttemptRecord))
    assert 16 <= n_before < len(attempts_on_disk(full))
    rerun = subprocess.run(_cohort_cmd(killed), env=_env("0"), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert attempts_on_disk(killed) == attempts_on_disk(full)
    assert len(load_trajectories(killed)) == len(load_trajectories(full)) == 8


def test_progsnap2_export_reimports_with_the_same_counts(tmp_path, grader, world):
    problems, personas = world
    trajs = Cohort(HashBackend(), grader, problems, personas, config(), tmp_path / "c").run(progress=False)
    folder = export_progsnap2(trajs, tmp_path / "ps2")
    out = subprocess.run([sys.executable, "-c", "from simstudent.cli import main; main()",
                          "data", "stats", str(folder), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    n_attempts = sum(len(t.attempts) for t in trajs)
    assert stats["submissions"] == n_attempts
    assert stats["streams"] == len(trajs)
    assert stats["students"] == len(DEMO_PERSONAS)
    assert stats["problems"] == len(DEMO_PROBLEMS)
    correct = sum(a.grade.error_type == "no_error" for t in trajs for a in t.attempts)
    assert stats["recorded_correct"] == {"true": correct, "false": n_attempts - correct, "unknown": 0}

    from simstudent.data import load_dataset

    ds = load_dataset(folder)
    by_key = {(s.student_id, s.problem_id): s for s in ds.streams}
    for t in trajs:  # code, order and timestamps survive the round trip
        stream = by_key[(t.student_id, t.problem_id)]
        assert [s.code for s in stream.submissions] == [a.code for a in t.attempts]
        assert [s.timestamp for s in stream.submissions] == [a.timestamp for a in t.attempts]


def test_jsonl_export_round_trips(tmp_path, grader, world):
    problems, personas = world
    trajs = Cohort(HashBackend(), grader, problems, personas, config(), tmp_path / "c").run(progress=False)
    from simstudent.data.jsonl import read_dataset

    ds = read_dataset(export_jsonl(trajs, tmp_path / "sim.jsonl", problems))
    assert ds.n_submissions == sum(len(t.attempts) for t in trajs)
    assert set(ds.problems) == set(DEMO_PROBLEMS)
    assert all(s.submissions[0].grade is not None for s in ds.streams)


def test_cli_cohort_exports_progsnap2(tmp_path):
    out = tmp_path / "cli"
    run = subprocess.run(_cohort_cmd(out, "--export", "progsnap2", "--json"), env=_env("0"),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["trajectories"] == 8
    main_table = (out / "progsnap2" / "MainTable.csv").read_text().splitlines()
    assert len(main_table) - 1 == summary["attempts"]


def test_compare_with_tutor_uses_the_same_seeds(tmp_path, grader, world):
    problems, personas = world
    result = compare_with_tutor(problems, personas, "rule_based", backend=HashBackend(), grader=grader,
                                config=config(), out_dir=tmp_path, progress=False)
    assert result.without.trajectories == result.with_tutor.trajectories == 4
    assert result.without.hints == 0 and result.with_tutor.hints > 0
    # Same seeds: every first attempt (made before any hint) is identical in both arms.
    a = attempts_on_disk(tmp_path / "without")
    b = attempts_on_disk(tmp_path / "with-rule_based")
    firsts = [k for k in a if k[2] == 0]
    assert firsts and all(a[k]["code"] == b[k]["code"] for k in firsts)
    assert 0.0 <= result.with_tutor.give_up_rate <= 1.0
    assert len(result.table_rows()) == 9


def test_a_refused_resume_names_each_differing_setting(tmp_path, grader, world):
    problems, personas = world
    Cohort(HashBackend(), grader, problems, personas, config(max_attempts=3), tmp_path).run(
        progress=False, max_steps=1)
    with pytest.raises(CohortError) as err:
        Cohort(HashBackend(), grader, problems, personas, config(max_attempts=4, seed=12), tmp_path).run(progress=False)
    assert "student.max_attempts: 3 on disk, 4 asked" in str(err.value)
    assert "student.seed: 11 on disk, 12 asked" in str(err.value)


def test_a_folder_without_attempts_does_not_block_the_corrected_rerun(tmp_path, grader, world):
    from test_agent_fakes import FailingBackend
    from simstudent.models.errors import BackendError

    problems, personas = world
    with pytest.raises(BackendError):
        Cohort(FailingBackend(), grader, problems, personas, config(max_attempts=3), tmp_path).run(progress=False)
    assert (tmp_path / "cohort.json").exists() and not (tmp_path / ATTEMPTS_FILE).exists()
    fixed = Cohort(HashBackend(), grader, problems, personas, config(max_attempts=4), tmp_path)
    trajs = fixed.run(progress=False)
    assert len(trajs) == 4 and any("replaced the settings" in n for n in fixed.notes)
    on_disk = json.loads((tmp_path / "cohort.json").read_text())
    assert on_disk["backend"] == "hash" and on_disk["config"]["student"]["max_attempts"] == 4


class _QuietTutor:
    name = "quiet"

    def hint(self, problem, trajectory):
        return None


class _QuietTutorV2(_QuietTutor):
    version = "2"


def test_a_changed_tutor_is_refused(tmp_path, grader, world):
    from simstudent.agent.tutor import tutor_fingerprint

    problems, personas = world
    fp = tutor_fingerprint(_QuietTutor())
    assert fp.name == "quiet" and fp.version is None and len(fp.source_sha256) == 64
    assert tutor_fingerprint(_QuietTutorV2()).version == "2"
    cfg = config(tutor="quiet")
    Cohort(HashBackend(), grader, problems, personas, cfg, tmp_path, tutor=_QuietTutor()).run(
        progress=False, max_steps=1)
    manifest = json.loads((tmp_path / "cohort.json").read_text())
    assert manifest["tutor"]["source_sha256"] == fp.source_sha256
    with pytest.raises(CohortError, match=r"tutor\.version: None on disk, '2' asked"):
        Cohort(HashBackend(), grader, problems, personas, cfg, tmp_path, tutor=_QuietTutorV2()).run(progress=False)
    # The same tutor resumes.
    Cohort(HashBackend(), grader, problems, personas, cfg, tmp_path, tutor=_QuietTutor()).run(progress=False)


def test_the_no_tutor_arm_does_not_depend_on_the_batch_composition(tmp_path, grader, world):
    """Every request draws from its own seed, so a student's attempts are the same
    whoever shares the batch (a backend whose samples depend only on the request)."""
    problems, personas = world
    both = tmp_path / "both"
    Cohort(HashBackend(), grader, problems, personas, config(), both).run(progress=False)
    alone = tmp_path / "alone"
    only_pat = CohortConfig(problems=DEMO_PROBLEMS[::-1], personas=["pat_prints"],
                            student=config().student)
    Cohort(HashBackend(), grader, problems, personas, only_pat, alone).run(progress=False)
    pat_both = {k: v for k, v in attempts_on_disk(both).items() if k[0] == "pat_prints"}
    assert pat_both and pat_both == attempts_on_disk(alone)


def test_on_attempt_is_called_once_per_attempt_after_it_is_on_disk(tmp_path, grader, world):
    problems, personas = world
    seen = []

    def callback(rec):
        assert (rec.student_id, rec.problem_id, rec.index) in attempts_on_disk(tmp_path)
        seen.append((rec.student_id, rec.problem_id, rec.index))

    trajs = Cohort(HashBackend(), grader, problems, personas, config(), tmp_path, on_attempt=callback).run(
        progress=False)
    assert sorted(seen) == sorted((t.student_id, t.problem_id, a.index) for t in trajs for a in t.attempts)


def test_compare_reports_paired_differences(tmp_path, grader, world):
    problems, personas = world
    result = compare_with_tutor(problems, personas, "rule_based", backend=HashBackend(), grader=grader,
                                config=config(), out_dir=tmp_path, progress=False)
    names = [d.measure for d in result.differences]
    assert names == ["pass rate (final attempt passes)", "test pass rate, final attempt"]
    d = result.differences[0]
    assert d.n == 4
    assert d.mean == pytest.approx(result.with_tutor.pass_rate - result.without.pass_rate)
    assert d.ci_low is not None and d.ci_low <= d.mean <= d.ci_high
