"""End to end on the real default model (SmolLM2-135M-Instruct, CPU, offline):
``simstudent eval exp1`` and ``exp2`` on a tiny ITAP split, then ``simstudent report``
turns the two run folders into the page with three tables and three figures."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from simstudent.cli import app

pytestmark = pytest.mark.slow


def _default_model_or_skip():
    from simstudent.models.default import gguf_path

    try:
        gguf_path()
    except Exception as exc:  # DefaultModelMissing
        pytest.skip(f"default model not installed: {exc}")


def test_eval_exp1_exp2_then_report(itap_dir, tmp_path):
    _default_model_or_skip()
    runner = CliRunner()
    common = ["--data", str(itap_dir), "--split", "test_NS_OP", "--test-fraction", "0.1", "--limit", "3",
              "--max-new-tokens", "32", "--batch-size", "3", "--quiet"]
    runs = []
    for exp in ("exp1", "exp2"):
        out = tmp_path / exp
        res = runner.invoke(app, ["eval", exp, *common, "--out", str(out)])
        assert res.exit_code == 0, res.output
        for name in ("config.json", "generations.jsonl", "grades.jsonl", "metrics.json", "embeddings.npz"):
            assert (out / name).exists(), name
        gens = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
        assert len(gens) == 3 and all(g["completion_tokens"] > 0 for g in gens)
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["embedder"] == "minilm" and metrics["counts"]["examples"] == 3
        runs.append(str(out))
    report = tmp_path / "report"
    res = runner.invoke(app, ["report", *runs, "--out", str(report)])
    assert res.exit_code == 0, res.output
    html = (report / "index.html").read_text()
    # Tab. 1, Tab. 2 (exp1) and Tab. 3 (exp2), each followed by its commands.
    for tab in ("Tab. 1", "Tab. 2", "Tab. 3"):
        assert tab in html
    assert html.count('<pre class="command">') == 1 + 3
    assert "simstudent eval exp1" in html and "simstudent eval exp2" in html
    pngs = sorted(p.name for p in report.glob("*.png"))
    assert pngs == ["fig2_embeddings_test_NS_OP.png", "fig3_error_types.png", "fig4_progress.png"]
    assert (report / "README.md").read_text().count("![Fig.") == 3
