"""The report: tables from hand-made metrics, figures, HTML/Markdown, and a headless
Chromium render that checks every figure loads.

The run folders here are hand-made: synthetic items (seeded random numbers, no model
and no grader) turned into ``metrics.json`` + ``embeddings.npz`` by the same summary
functions ``simstudent eval`` uses. ``TINY_EXP1`` is written by hand, cell by cell.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from simstudent.metrics import engine as E
from simstudent.experiments.report import build_report
from simstudent.experiments.report.html import markdown_to_html
from simstudent.experiments.report.tables import FLOOR_LABEL
from simstudent.metrics.records import STAGES, Item, RolloutSummary, RunMetrics, Stat, load_run_metrics
from simstudent.experiments.runfolder import RunFolder

ERRS = ("no_error", "logical", "runtime", "compile")


def _item(rng: random.Random, role: str, key: str, group: str, student: str, problem: str, index: int,
          position: float, sample: int = 0, skill: float = 0.5) -> Item:
    lines = rng.randint(2, 12)
    chars = lines * rng.randint(15, 30)
    err = rng.choices(ERRS, weights=[skill, 1 - skill, 0.2, 0.1])[0]
    pr = 1.0 if err == "no_error" else (0.0 if err in ("compile", "runtime") else rng.choice([0.25, 0.5, 0.75]))
    parses = err != "compile"
    return Item(
        id=f"{key}#{sample}:{role}" if role == "gen" else f"{key}:real",
        key=key, sample=sample, role=role, group=group, student_id=student, problem_id=problem,
        index=index, length=5, position=position, error_type=err, pass_rate=pr,
        pass_rate_excluded=None if err in ("compile", "runtime") else pr,
        pep8=float(rng.randint(0, 10)),
        features={"chars": chars, "lines": lines,
                  "depth": rng.randint(4, 9) if parses else None,
                  "width": rng.randint(3, 12) if parses else None,
                  "nodes": rng.randint(20, 120) if parses else None},
        edit_distance=None if index == 0 else float(rng.randint(1, 60)),
    )


def _run(kind: str, split: str, label: str, context: bool, k, seed: int, folder: Path, skill: float) -> RunMetrics:
    rng = random.Random(seed)
    data_rng = random.Random(zlib.crc32(f"{split}/{kind}".encode()))  # the real data: same for every run of a split
    students = [f"S{i}" for i in range(8)]
    problems = ["P1", "P2", "P3"]
    items: list[Item] = []
    groups = list(STAGES) if kind == "exp1" else ["all"]
    for s in students:
        for p in problems:
            if kind == "exp1":
                slots = [(stage, {"first": 0, "middle": 2, "last": 4}[stage], i / 2) for i, stage in enumerate(STAGES)]
            else:
                slots = [("all", t, t / 4) for t in range(5)]
            for group, index, pos in slots:
                tail = group if kind == "exp1" else f"k{k}"
                key = f"{kind}:{s}:{p}:{index}:{tail}:{'ctx' if context else 'noctx'}"
                items.append(_item(data_rng, "real", key, group, s, p, index, pos, skill=0.2 + 0.6 * pos))
                items.append(_item(rng, "gen", key, group, s, p, index, pos, skill=skill))
    # Embeddings: real codes cluster by problem; generated ones are noisier.
    dim = 16
    centres = {p: np.random.default_rng(i).normal(size=dim) for i, p in enumerate(problems)}
    nrng = np.random.default_rng(seed)
    emb = {}
    for it in items:
        noise = 0.4 if it.role == "real" else 0.4 + (1 - skill)
        emb[it.id] = centres[it.problem_id] + nrng.normal(scale=noise, size=dim)
    E.fit_style_scores(items)
    groups_m, prog, floor = E.measure_items(items, emb, groups, progress_mode=None if kind == "exp1" else "median-steps",
                                            floor_seed=0, floor_repeats=3)
    run = RunMetrics(
        kind=kind, label=label, model="fake-model", split=split, context=context, k=k, embedder="random",
        command=f"simstudent eval {kind} --data DATA --split {split} --label {label}",
        counts={"examples": len(items) // 2, "students": len(students)},
        groups=groups_m, progress=prog, floor=floor, floor_seed=0, floor_repeats=3, items=items,
    )
    if kind == "rollout":
        run.rollout = RolloutSummary(n_streams=10, prefix=2, coverage=Stat(mean=0.4, sd=0.1, n=10),
                                     grade_proximity=Stat(mean=0.7, sd=0.2, n=10),
                                     ast_match=Stat(mean=0.1, sd=0.05, n=10),
                                     codebleu=Stat(mean=0.5, sd=0.1, n=10))
    rf = RunFolder(folder)
    rf.init({"kind": kind, "label": label})
    rf.write_metrics(run.model_dump(mode="json"))
    ids = sorted(emb)
    np.savez(folder / "embeddings.npz", ids=np.array(ids), vectors=np.stack([emb[i] for i in ids]).astype(np.float16))
    return run


def write_handmade_runs(root: Path) -> list[Path]:
    """Two models x two contexts for exp1, two for exp2, one rollout, both splits."""
    folders = []
    seed = 0
    for split in ("test_NS_OP", "test_NS_NP"):
        for label, skill in (("inst", 0.7), ("lora", 0.4)):
            for ctx in (False, True):
                seed += 1
                f = root / f"exp1-{split}-{label}-{int(ctx)}"
                _run("exp1", split, label, ctx, None, seed, f, skill)
                folders.append(f)
            seed += 1
            f = root / f"exp2-{split}-{label}"
            _run("exp2", split, label, True, 3, seed, f, skill)
            folders.append(f)
        seed += 1
        f = root / f"rollout-{split}"
        _run("rollout", split, "lora", True, 3, seed, f, 0.4)
        folders.append(f)
    return folders


def tiny_exp1() -> dict:
    """A hand-written exp1 summary (no items): one stage, known numbers."""
    return {
        "kind": "exp1", "label": "toy", "split": "test_NS_OP", "context": True,
        "command": "simstudent eval exp1 --split test_NS_OP",
        "counts": {"generations": 40, "truncated": 10},
        "groups": [{
            "group": "last", "n_real": 40, "n_gen": 40, "knn_distance": 0.0581, "coverage": 0.719,
            "n_cells": 3, "n_cells_knn": 3, "n_cells_coverage": 2,
            "pep8": {"gen": {"mean": 6.22, "sd": 2.08, "n": 4}, "real": {"mean": 7.49, "sd": 4.69, "n": 4}, "mae": 3.8},
            "style_score": {"gen": {"mean": 0.41, "sd": 0.75, "n": 4}, "real": {"mean": 0.89, "sd": 1.28, "n": 4},
                            "mae": 1.26},
            "error_types": {"gen": {"no_error": 0.5, "logical": 0.5, "runtime": 0.0, "compile": 0.0},
                            "real": {"no_error": 0.25, "logical": 0.25, "runtime": 0.25, "compile": 0.25}},
        }],
        "floor": [{"group": "last", "repeats": 5, "knn_distance": {"mean": 0.05, "sd": 0.004, "n": 5},
                   "coverage": {"mean": 0.8, "sd": 0.05, "n": 5},
                   "pep8": {"mean": 7.0, "sd": 4.0, "n": 5}, "pep8_mae": {"mean": 4.5, "sd": 0.5, "n": 5},
                   "style_score": {"mean": 0.8, "sd": 1.1, "n": 5}, "style_mae": {"mean": 1.1, "sd": 0.2, "n": 5}}],
    }


# ------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    folders = write_handmade_runs(root / "runs")
    report = build_report(folders, root / "out")
    return root, folders, report


def test_tiny_table_cells_exact(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(tiny_exp1()))
    rep = build_report([tmp_path / "run"], tmp_path / "out")
    by_id = {t.id: t for t in rep.tables}
    assert set(by_id) == {"tab1", "tab2"}  # no exp2 / rollout runs -> no Tab. 3
    t1 = by_id["tab1"]
    assert t1.columns == ["Model", "Stage", "Context", "Avg. KNN Dist. ↓ (cells)", "KNN Cov. ↑ (cells)", "Trunc."]
    assert t1.rows == [
        ["toy", "last", "T", "0.058 (3/3)", "71.9% (2/3)", "25%"],  # 10 of 40 generations truncated
        [FLOOR_LABEL, "last", "-", "0.050 ± 0.004", "80.0% ± 5.0%", "-"],
    ]
    t2 = by_id["tab2"]
    assert t2.columns == ["Model", "Bin", "Context", "PEP 8 Mean (Sd)", "PEP 8 MAE", "Style Mean (Sd)", "Style MAE"]
    assert t2.rows == [
        ["toy", "last", "T", "6.22 (2.08)", "3.80", "0.41 (0.75)", "1.26"],
        ["Student", "last", "-", "7.49 (4.69)", "-", "0.89 (1.28)", "-"],
        [FLOOR_LABEL, "last", "-", "7.00 (4.00)", "4.50 ± 0.50", "0.80 (1.10)", "1.10 ± 0.20"],
    ]
    assert t2.row_kinds == ["model", "student", "floor"]
    # A cell-averaged value shows the cells it averages; no qualifying cell is n/a, never 100%.
    from simstudent.experiments.report.tables import _cells

    assert _cells(None, 0, 3, pct=True) == "n/a†" and _cells(0.5, 2, 3, pct=True) == "50.0% (2/3)"
    # The command that regenerates the numbers sits under every table.
    md = rep.md_path.read_text()
    assert "simstudent eval exp1 --split test_NS_OP" in md
    assert "simstudent report" in md and "--out" in md
    # Without embeddings there is no Fig. 2, and the page says so.
    assert any("Fig. 2" in w for w in rep.warnings)


def test_bad_metrics_json_names_file_and_field(tmp_path):
    bad = tiny_exp1()
    bad["groups"][0]["knn_distance"] = "far"
    (tmp_path / "metrics.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"metrics\.json: field groups\.0\.knn_distance"):
        load_run_metrics(tmp_path / "metrics.json")
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        load_run_metrics(tmp_path / "nothing-here")


def test_tables_have_paper_shape(handmade):
    _, _, rep = handmade
    ids = [(t.id, t.split) for t in rep.tables]
    for tab in ("tab1", "tab2", "tab3", "tabR"):
        assert (tab, "test_NS_OP") in ids and (tab, "test_NS_NP") in ids
    for t in rep.tables:
        assert all(len(r) == len(t.columns) for r in t.rows), t.title
        assert t.commands and t.commands[-1].startswith("simstudent report")
    t1 = next(t for t in rep.tables if t.id == "tab1" and t.split == "test_NS_OP")
    # 2 models x 2 contexts + 1 floor row, per stage.
    assert len(t1.rows) == 3 * 5
    assert [r[1] for r in t1.rows] == [s for s in STAGES for _ in range(5)]
    assert sum(k == "floor" for k in t1.row_kinds) == 3
    t2 = next(t for t in rep.tables if t.id == "tab2" and t.split == "test_NS_OP")
    assert [r[0] for r in t2.rows][-2:] == ["Student", FLOOR_LABEL]
    assert len(t2.rows) == 4 + 2
    t3 = next(t for t in rep.tables if t.id == "tab3" and t.split == "test_NS_NP")
    assert t3.columns[3] == "Pass Rate % Mean (Sd)" and t3.columns[9] == "Cosine Dist. ↓"
    assert t3.columns[-5:] == ["Edit Mean (Sd)", "Edit MAE ↓", "Edit W1 ↓", "Unch.", "Trunc."]
    assert [r[0] for r in t3.rows] == ["inst", "lora", "Student", FLOOR_LABEL]
    floor = t3.rows[-1]
    assert "±" in floor[4] and "±" in floor[9]


def test_style_score_refit_jointly(handmade):
    """After the joint refit every run of a table reports the same Student style row."""
    _, _, rep = handmade
    for kind in ("exp1", "exp2"):
        for split in ("test_NS_OP", "test_NS_NP"):
            runs = [r for r in rep.runs if r.kind == kind and r.split == split]
            group = "last" if kind == "exp1" else "all"
            # Runs of one split share their real items only within the same context flag.
            by_ctx: dict = {}
            for r in runs:
                by_ctx.setdefault(r.context, set()).add(round(r.group(group).style_score.real.mean, 9))
            assert all(len(v) == 1 for v in by_ctx.values()), (kind, split, by_ctx)
            assert all(r.style_scorer is not None for r in runs)


def test_figures_written(handmade):
    root, _, rep = handmade
    names = sorted(f.path.name for f in rep.figures)
    assert names == ["fig2_embeddings_test_NS_NP.png", "fig2_embeddings_test_NS_OP.png",
                     "fig3_error_types.png", "fig4_progress.png"]
    for f in rep.figures:
        data = (root / "out" / f.path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    html = rep.html_path.read_text()
    assert html.count("<table>") == len(rep.tables) + 1  # + the runs overview
    assert html.count("<img ") == 4
    assert rep.warnings == []


def test_markdown_subset():
    out = markdown_to_html("# Title\n\nSome `code` and **bold** <b>.\n\n- one\n- two\n\n```\nx < 1\n```\n")
    assert "<h2>Title</h2>" in out
    assert "<code>code</code>" in out and "<strong>bold</strong>" in out and "&lt;b&gt;" in out
    assert out.count("<li>") == 2
    assert "<pre><code>x &lt; 1</code></pre>" in out


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

_PROBE = """<script>
window.addEventListener('load', function () {
  var out = [];
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    out.push(im.getAttribute('src') + '=' + im.naturalWidth + 'x' + im.naturalHeight);
  }
  var p = document.createElement('pre');
  p.id = 'probe';
  p.textContent = 'IMGS[' + out.join(';') + ']';
  document.body.appendChild(p);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`)")
def test_chromium_renders_every_figure(handmade, tmp_path):
    """Load the page in headless Chromium and read back each image's natural size."""
    root, _, rep = handmade
    page = tmp_path / "page"
    shutil.copytree(root / "out", page)
    html = (page / "index.html").read_text()
    # The probe is added to a copy only: the report itself carries no scripts.
    (page / "index.html").write_text(html.replace("</body>", _PROBE + "</body>"))
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
        (page / "index.html").as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">IMGS\[(.*?)\]</pre>', proc.stdout)
    assert m, f"probe not found in the dumped DOM (rc={proc.returncode}): {proc.stderr[-2000:]}"
    entries = [e for e in m.group(1).split(";") if e]
    assert len(entries) == len(rep.figures) == 4
    for e in entries:
        src, size = e.rsplit("=", 1)
        w, h = (int(x) for x in size.split("x"))
        assert w > 100 and h > 100, f"figure {src} did not load ({size})"
    # Tables are in the DOM too.
    assert proc.stdout.count("<table>") == len(rep.tables) + 1


def test_gzipped_metrics_load_like_plain(tmp_path):
    """docs/results keeps gzipped copies of metrics.json; the report reads them."""
    import gzip

    (tmp_path / "m.json.gz").write_bytes(gzip.compress(json.dumps(tiny_exp1()).encode()))
    m, _ = load_run_metrics(tmp_path / "m.json.gz")
    assert m.label == "toy" and m.group("last").knn_distance == 0.0581
    (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"bad\.json\.gz: not valid JSON"):
        load_run_metrics(tmp_path / "bad.json.gz")
