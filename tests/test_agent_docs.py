"""The tutor snippet in docs/agent.md runs as pasted: extracted from the page and run in
a fresh interpreter with the REAL default model and grader."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "agent.md"


def tutor_snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Plugging in a tutor"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_snippet_is_complete_code():
    code = tutor_snippet()
    compile(code, "agent.md", "exec")  # pasted as is, it parses
    assert "compare_with_tutor(" in code and "import" in code


@pytest.mark.slow
def test_tutor_snippet_runs_as_pasted(tmp_path):
    from simstudent.models.default import gguf_path

    try:
        gguf_path()
    except Exception as exc:  # the bundled model package is not installed here
        pytest.skip(f"default model not installed: {exc}")
    proc = subprocess.run([sys.executable, "-c", tutor_snippet()], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pass rate (final attempt passes):" in proc.stdout and "hints shown: 0 ->" in proc.stdout
    assert re.search(r"pass rate \(final attempt passes\): [+-]\d", proc.stdout.split("hints shown")[1])
    assert (tmp_path / "runs" / "nudge" / "without" / "attempts.jsonl").exists()
    assert (tmp_path / "runs" / "nudge" / "with-nudge" / "cohort.json").read_text().count('"version": "1"') == 1
