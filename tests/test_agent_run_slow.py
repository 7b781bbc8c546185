"""The README's main job with the REAL default student (SmolLM2-135M-Instruct, offline,
CPU, with the bundled closed-loop adapter) and the real sandboxed grader: every attempt
must carry a real grade, define the problem's function and not loop."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from simstudent.metrics.degeneration import defines_function, repeated_block
from simstudent.models.adapters import DEFAULT_STUDENT_ADAPTER


@pytest.mark.slow
def test_run_main_job_with_the_default_model(tmp_path):
    from simstudent.models.default import gguf_path

    try:
        gguf_path()
    except Exception as exc:  # the bundled model package is not installed here
        pytest.skip(f"default model not installed: {exc}")
    out = tmp_path / "traj.json"
    proc = subprocess.run(
        [sys.executable, "-c", "from simstudent.cli import main; main()", "run", "--problem", "hw04_q2",
         "--persona", "student_123", "--max-attempts", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    traj = json.loads(out.read_text())
    assert traj["stop_reason"] in ("submitted", "max_attempts", "stalled", "passed")
    assert 1 <= len(traj["attempts"]) <= 2
    for att in traj["attempts"]:
        grade = att["grade"]
        assert grade["error_type"] in ("no_error", "logical", "runtime", "compile")
        assert grade["total"] == 8  # hw04_q2: 7 doctests + 1 assert
        assert grade["isolation"] in ("bubblewrap", "unshare", "none")
        assert att["completion"] is not None and att["prompt"]
    assert "attempt 1" in proc.stdout and "trajectory" in proc.stdout
    # No --adapter: the bundled closed-loop adapter and the template it was trained on.
    assert traj["model"] == "default" and traj["adapter"] == DEFAULT_STUDENT_ADAPTER
    assert traj["template"] == "ft-loop-solution"
    for att in traj["attempts"]:
        assert defines_function(att["code"], "count_stairs"), att["code"]
        assert not repeated_block(att["code"]), att["code"]
        assert att["finish_reason"] in ("stop", "submit")
