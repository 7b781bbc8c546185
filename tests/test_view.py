"""``simstudent view``: sources read into streams, the files written, and the page itself
driven in headless Chromium (filters, every link, a stream's timeline, side by side,
blind mode, a 1,000-trajectory cohort).

The cohort is a real one: real problems (ITAP specs), personas, tutor and sandboxed
grader; only the model is the deterministic HashBackend of tests/test_agent_fakes.py.
Real students come from ../shared/data/itap (skipped with a reason when absent).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simstudent.agent.cohort import Cohort, CohortConfig
from simstudent.agent.student import StudentConfig
from simstudent.agent.tutor import get_tutor
from simstudent.grader import Grader, GraderConfig
from simstudent.problems import find_problem, load_persona
from simstudent.view import ViewError, build_view, load_sources
from simstudent.view.build import unified_diff
from test_agent_fakes import HashBackend

REPO = Path(__file__).resolve().parents[1]
ITAP = REPO.parent / "shared" / "data" / "itap"
PROBLEMS = ["itap/oneToN", "itap/kthDigit"]
PERSONAS = ["student_123", "pat_prints", "gus_gives_up"]
needs_itap = pytest.mark.skipif(not ITAP.is_dir(), reason=f"real data not found at {ITAP}")


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-c", "from simstudent.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def make_cohort(out: Path) -> Path:
    """A real cohort (3 personas x 2 copies x 2 ITAP problems, rule-based tutor) in ``out``."""
    problems = {p: find_problem(p) for p in PROBLEMS}
    personas = [load_persona(p) for p in PERSONAS]
    cfg = CohortConfig(problems=list(problems), personas=PERSONAS, n_per_persona=2, tutor="rule_based",
                       student=StudentConfig(max_attempts=5, seed=3, save_prompts=False))
    with Grader(GraderConfig(cache_path=None)) as grader:
        Cohort(HashBackend(), grader, problems, personas, cfg, out, tutor=get_tutor("rule_based")).run(progress=False)
    return out


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    return make_cohort(tmp_path_factory.mktemp("view") / "cohort")


# ---------------------------------------------------------------- reading


def test_cohort_streams_match_the_files(cohort_dir):
    streams = load_sources([cohort_dir])
    trajs = [json.loads(line) for line in (cohort_dir / "trajectories.jsonl").read_text().splitlines()]
    lines = (cohort_dir / "attempts.jsonl").read_text().splitlines()
    assert len(streams) == len(trajs) == len(PROBLEMS) * len(PERSONAS) * 2
    assert sum(len(s.attempts) for s in streams) == len(lines)
    by_key = {(t["student_id"], t["problem_id"]): t for t in trajs}
    for s in streams:
        t = by_key[(s.student_id, s.problem_id)]
        assert s.stop_reason == t["stop_reason"] and s.origin == "simulated" and s.graded
        assert s.persona == s.student_id.split("#")[0]
        assert [a.code for a in s.attempts] == [a["code"] for a in t["attempts"]]
        assert [a.error_type for a in s.attempts] == [a["grade"]["error_type"] for a in t["attempts"]]
    # The rule-based tutor hints from the second attempt on: the hints are carried over.
    assert any(a.hint for s in streams for a in s.attempts)


def test_unified_diff_by_hand():
    before = "def f(n):\n    return 0\n"
    after = "def f(n):\n    return n\n"
    assert unified_diff(before, after, "attempt 1", "attempt 2").splitlines() == [
        "--- attempt 1", "+++ attempt 2", "@@ -1,2 +1,2 @@", " def f(n):", "-    return 0", "+    return n"]
    assert unified_diff(before, before, "a", "b") == ""


def _attempt(i: int, code: str, err: str, passed: int, **extra) -> dict:
    grade = {"error_type": err, "passed": passed, "total": 2, "feedback": f"feedback {i}"}
    return {"index": i, "code": code, "grade": grade, "timestamp": f"2024-01-01T10:0{i}:00+00:00", **extra}


def test_run_output_truncation_and_written_files(tmp_path):
    traj = {"student_id": "student_123", "problem_id": "hw04_q2", "stop_reason": "passed", "attempts": [
        _attempt(0, "x = (", "compile", 0, finish_reason="length"),
        _attempt(1, "def f():\n    return 1\n", "logical", 1, hint="look at test 2"),
        _attempt(2, "def f():\n    return 2\n", "no_error", 2, submitted=True)]}
    (tmp_path / "run.json").write_text(json.dumps(traj))
    res = build_view([tmp_path / "run.json"], tmp_path / "out")
    assert (res.streams, res.simulated, res.real) == (1, 1, 0)
    index = (tmp_path / "out" / "data" / "index.js").read_text()
    assert index.startswith("SIMVIEW.index(") and '"v":"CLN"' in index and '"out":"passed"' in index
    text = (tmp_path / "out" / "data" / "s" / "0.js").read_text()
    data = json.loads(text[text.index(",") + 1:text.rindex(")")])
    a0, a1, a2 = data["attempts"]
    assert a0["truncated"] is True and "truncated" not in a1  # unknown finish reason: no chip
    assert "diff" not in a0 and "-x = (" in a1["diff"] and "+    return 2" in a2["diff"]
    assert a1["hint"] == "look at test 2" and a2["submitted"] and a2["feedback"] == "feedback 2"
    html = (tmp_path / "out" / "index.html").read_text()
    assert "/*{{" not in html and "window.SIMVIEW = " in html and "data/index.js" in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), "the page must load nothing from a network"


def test_eval_run_folders(tmp_path):
    roll = tmp_path / "rollout"
    roll.mkdir()
    (roll / "config.json").write_text(json.dumps({"kind": "rollout", "label": "lora"}))
    traj = {"student_id": "S1", "problem_id": "oneToN", "stop_reason": "submitted", "meta": {"prefix_len": 1},
            "attempts": [_attempt(0, "a", "logical", 0), _attempt(1, "b", "no_error", 2)]}
    (roll / "trajectories.jsonl").write_text(json.dumps({"id": "S1:oneToN", "trajectory": traj}) + "\n")
    [s] = load_sources([roll])
    assert s.persona == "lora" and [a.given for a in s.attempts] == [True, False] and s.outcome == "passed"

    exp = tmp_path / "exp2"
    exp.mkdir()
    (exp / "config.json").write_text(json.dumps({"kind": "exp2", "label": "inst"}))
    gens = [{"id": f"g{i}", "key": f"exp2:S1:oneToN:{i}:k3:ctx", "sample": 0, "code": f"c{i}",
             "finish_reason": "stop", "submitted": False} for i in (3, 1)]
    (exp / "generations.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gens))
    (exp / "grades.jsonl").write_text(json.dumps({"id": "g1", "role": "gen", "grade": {
        "error_type": "runtime", "passed": 0, "total": 3}}) + "\n")
    [s] = load_sources([exp])
    assert [a.index for a in s.attempts] == [1, 3] and [a.code for a in s.attempts] == ["c1", "c3"]
    assert s.attempts[0].error_type == "runtime" and s.attempts[1].error_type is None and not s.graded
    assert s.attempts[0].truncated is False


def test_bad_inputs_name_file_and_line(tmp_path):
    with pytest.raises(ViewError, match="nope: no such file"):
        load_sources([tmp_path / "nope"])
    bad = tmp_path / "cohort"
    bad.mkdir()
    good = json.dumps({"student_id": "a", "persona_id": "a", "problem_id": "p", "index": 0, "code": ""})
    (bad / "attempts.jsonl").write_text(good + "\n{not json\n" + good + "\n")
    with pytest.raises(ViewError, match=r"attempts\.jsonl: line 2: not valid JSON"):
        load_sources([bad])
    # A torn last line is an interrupted write, not an error: it is skipped.
    (bad / "attempts.jsonl").write_text(good + "\n" + '{"student_id": "a", "pro')
    assert len(load_sources([bad])[0].attempts) == 1
    (tmp_path / "x.txt").write_text("hello")
    proc = cli("view", str(tmp_path / "x.txt"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "x.txt: not a cohort folder" in proc.stderr and "Traceback" not in proc.stderr


def test_report_points_a_cohort_to_view(cohort_dir, tmp_path):
    proc = cli("report", str(cohort_dir), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "cohort folder" in proc.stderr and "simstudent view" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_version_personas_and_no_bool_metavar():
    from simstudent import __version__
    from simstudent.problems import list_personas

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"simstudent {__version__}"
    proc = cli("personas", "list", "--json")
    assert proc.returncode == 0
    assert [p["id"] for p in json.loads(proc.stdout)] == list_personas() and "student_123" in list_personas()
    # No command's help shows a type beside a flag.
    import typer.main

    from simstudent.cli import app

    group = typer.main.get_command(app)
    paths = [[]]
    for name, cmd in group.commands.items():
        paths.append([name])
        paths.extend([name, sub] for sub in getattr(cmd, "commands", {}))
    for path in paths:
        out = cli(*path, "--help").stdout
        assert "<bool>" not in out, f"simstudent {' '.join(path)} --help shows <bool>"
    assert "--no-context" in cli("run", "--help").stdout


@needs_itap
def test_real_dataset_beside_the_cohort(cohort_dir, tmp_path):
    res = build_view([cohort_dir, ITAP], tmp_path / "out")
    # ITAP: 888 student-problem streams, 2,801 submissions (../shared/data/README.md).
    assert res.real == 888 and res.simulated == 12
    assert res.paired_problems == ["kthDigit", "oneToN"]
    streams = load_sources([ITAP])
    assert sum(len(s.attempts) for s in streams) == 2801
    assert all(s.persona == "real" and not s.graded for s in streams)
    assert {True, False} <= {a.correct for s in streams for a in s.attempts}  # some rows record no verdict


@needs_itap
def test_grade_real_grades_the_paired_problems_in_the_sandbox(cohort_dir):
    with Grader(GraderConfig(cache_path=None)) as grader:
        streams = load_sources([cohort_dir, ITAP], grade_real=True, grader=grader)
    real = [s for s in streams if s.origin == "real"]
    paired = [s for s in real if s.problem_key in ("oneToN", "kthDigit")]
    assert paired and all(s.graded for s in paired)
    assert not any(s.graded for s in real if s.problem_key not in ("oneToN", "kthDigit"))
    n_tests = {k: len(find_problem(f"itap/{k}").tests) for k in ("oneToN", "kthDigit")}
    assert all(a.total == n_tests[s.problem_key] and a.feedback for s in paired for a in s.attempts)


def test_serve(cohort_dir, tmp_path):
    import re as _re
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-u", "-c", "from simstudent.cli import main; main()", "view",
                             str(cohort_dir), "--out", str(tmp_path / "o"), "--serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, COLUMNS="200"))
    try:
        url = None
        for line in proc.stdout:
            m = _re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, proc.stderr.read()
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        index = urllib.request.urlopen(url + "data/index.js", timeout=30).read().decode()
        assert "window.SIMVIEW = " in page and index.startswith("SIMVIEW.index(")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cohort_student_stopped_before_any_attempt(tmp_path):
    cohort = tmp_path / "c"
    cohort.mkdir()
    att = {"student_id": "a", "persona_id": "a", "problem_id": "p", "index": 0, "code": "x = 1"}
    (cohort / "attempts.jsonl").write_text(json.dumps(att) + "\n")
    (cohort / "trajectories.jsonl").write_text(
        json.dumps({"student_id": "b", "problem_id": "p", "attempts": [], "stop_reason": "error"}) + "\n")
    streams = {s.student_id: s for s in load_sources([cohort])}
    assert streams["b"].outcome == "error" and streams["b"].attempts == []
    assert streams["a"].stop_reason is None and streams["a"].outcome == "unknown"  # still running, ungraded
    res = build_view([cohort], tmp_path / "out")
    assert res.streams == 2
