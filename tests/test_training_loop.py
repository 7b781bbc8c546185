"""Closed-loop training examples, the split manifest, and bad training / adapter input."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simstudent.agent.prompting import PromptSettings, ResolvedTemplate, build_request
from simstudent.cli import app
from simstudent.data.splits import SplitConfig, make_split, manifest_record, split_overlap
from simstudent.models.base import SamplingParams
from simstudent.prompts import get_template
from simstudent.schema import Attempt, Dataset, GradeResult, Persona, Problem, Stream, Submission
from simstudent.training.loop_data import LoopDataSettings, build_loop_examples

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
ADD = Problem(id="add", instructions="Return a + b.", skeleton_code="def add(a, b):\n    pass\n",
              reference_solution="def add(a, b):\n    return a + b\n")
SUB = Problem(id="sub", instructions="Return a - b.", skeleton_code="def sub(a, b):\n    pass\n",
              reference_solution="def sub(a, b):\n    return a - b\n")


def _grade(ok: bool, text: str) -> GradeResult:
    return GradeResult(error_type="no_error" if ok else "logical", passed=int(ok), total=1, feedback=text)


def _stream(student: str, problem: str, codes: list[str], start: int) -> Stream:
    subs = [Submission(code=c, order=i, timestamp=T0 + timedelta(hours=start, minutes=i),
                       grade=_grade(i == len(codes) - 1, f"fb {problem} {i}")) for i, c in enumerate(codes)]
    return Stream(student_id=student, problem_id=problem, submissions=subs)


def _dataset() -> Dataset:
    return Dataset(name="hand", streams=[
        _stream("s1", "sub", ["def sub(a, b):\n    return a - b"], start=0),
        _stream("s1", "add", [f"def add(a, b):\n    return {i}" for i in range(6)], start=1),
    ])


def test_loop_examples_are_the_agents_prompts_with_real_next_attempts() -> None:
    ds = _dataset()
    problems = {"add": ADD, "sub": SUB}
    examples = build_loop_examples(ds, problems, "ft-loop", LoopDataSettings(history=4))
    add = [e for e in examples if e.problem_id == "add"]
    assert len(examples) == 7 and [e.target_index for e in add] == list(range(6))
    # Targets: the student's real attempt t; <SUBMIT> only after the stream's last one.
    assert add[0].completion == "<code>def add(a, b):\n    return 0</code>"
    assert add[5].completion == "<code>def add(a, b):\n    return 5</code><SUBMIT>" and add[5].is_final
    # The prompt of attempt 5 is exactly what the agent sends at inference with the same
    # history: the last 4 attempts (1..4) with their feedback, the past problem's work.
    persona = Persona(id="s1", history=ds.streams)
    attempts = [Attempt(index=i, code=s.code, grade=s.grade) for i, s in enumerate(ds.streams[1].submissions[:5])]
    request = build_request(ResolvedTemplate(get_template("ft-loop"), 3, "test", 4), ADD, persona, attempts,
                            index=5, max_attempts=8, hint=None, settings=PromptSettings(), sampling=SamplingParams(),
                            adapter=None)
    assert add[5].prompt == request.prompt
    assert add[5].prompt.endswith(
        "SUBMISSIONS:\n"
        "1. <code>def add(a, b):\n    return 1</code>\nFEEDBACK: fb add 1\n"
        "2. <code>def add(a, b):\n    return 2</code>\nFEEDBACK: fb add 2\n"
        "3. <code>def add(a, b):\n    return 3</code>\nFEEDBACK: fb add 3\n"
        "4. <code>def add(a, b):\n    return 4</code>\nFEEDBACK: fb add 4\n")
    assert add[5].prompt.startswith("PAST PROBLEM SUBMISSIONS:\n1. <code>def sub(a, b):\n    return a - b</code>\n")
    assert add[0].prompt.endswith("SUBMISSIONS:\nNone\n")
    assert "INSTRUCTOR SOLUTION" not in add[5].prompt


def test_solution_aware_loop_examples_show_the_reference_solution() -> None:
    examples = build_loop_examples(_dataset(), {"add": ADD, "sub": SUB}, "ft-loop-solution")
    add = [e for e in examples if e.problem_id == "add"]
    assert ("INSTRUCTOR SOLUTION (the student has not seen it):\n<code>def add(a, b):\n    return a + b\n</code>\n"
            "SUBMISSIONS:\n") in add[2].prompt
    assert add[2].completion == "<code>def add(a, b):\n    return 2</code>"  # still the student's real attempt


def test_student_config_switch_selects_the_solution_template() -> None:
    from simstudent.agent.prompting import resolve_template
    from simstudent.agent.student import StudentConfig

    assert resolve_template(StudentConfig(chat=False)).name == "ft-loop"
    assert resolve_template(StudentConfig(chat=False, solution_aware=True)).name == "ft-loop-solution"
    assert resolve_template(StudentConfig(solution_aware=True)).name == "chat-loop-solution"
    with pytest.raises(ValueError, match="needs a loop template"):
        resolve_template(StudentConfig(template="ft-exp2-ctx", solution_aware=True))


def test_split_manifest_record_and_overlap() -> None:
    ds = Dataset(name="d", streams=[
        _stream(f"s{i}", p, ["x = 1"], start=i) for i in range(10) for p in ("add", "sub", "mul", "div", "mod")])
    a = make_split(ds, SplitConfig(seed=0))
    rec = manifest_record(a.manifest)
    assert rec["seed"] == 0 and rec["test_student_fraction"] == 0.2 and rec["itap_fold"] is None
    assert len(rec["train_students"]) == 8 and len(rec["train_students_sha256"]) == 64
    assert split_overlap(rec, a.manifest) == []  # the same split: disjoint by construction
    b = make_split(ds, SplitConfig(seed=1, test_student_fraction=0.5, test_problem_fraction=0.4))
    overlap = split_overlap(rec, b.manifest)
    shared = sorted(set(rec["train_students"]) & set(b.manifest.test_students))
    assert shared and overlap[0].startswith(f"{len(shared)} test student(s) were training students")
    assert shared[0] in overlap[0]
    assert any("NS_NP test problem(s)" in o for o in overlap) == bool(
        set(rec["train_problems"]) & set(b.manifest.test_problems))
    tampered = {**rec, "train_students": rec["train_students"][1:]}
    assert "does not match its sha256" in split_overlap(tampered, a.manifest)[0]


def _flat(text: str) -> str:
    return "".join(text.split())


def _fake_adapter(folder: Path, *, base: str = "default", files=("adapter_config.json", "adapter_model.safetensors"),
                  split: dict | None = None) -> Path:
    folder.mkdir(parents=True)
    for f in files:
        (folder / f).write_text("{}")
    meta = {"name": folder.name, "base_model": base, "template": "ft-exp2-ctx", "exp": "exp2", "k": 3,
            "context": True, "split_seed": 0, "split": split}
    (folder / "simstudent.json").write_text(json.dumps(meta))
    return folder


def test_bad_adapter_folders_fail_before_loading(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = _fake_adapter(tmp_path / "ok")
    res = runner.invoke(app, ["adapters", "check", str(ok), "--model", "default"])
    assert res.exit_code == 0, res.output
    other = runner.invoke(app, ["adapters", "check", str(ok), "--model", "Qwen/Qwen2.5-Coder-7B"])
    assert other.exit_code == 2
    # (rich wraps long lines in the test console: compare without whitespace)
    assert _flat(f"{ok / 'simstudent.json'}: adapter trained on base model 'default', not 'Qwen/Qwen2.5-Coder-7B'") \
        in _flat(other.output)
    no_weights = _fake_adapter(tmp_path / "nw", files=("adapter_config.json",))
    res = runner.invoke(app, ["adapters", "check", str(no_weights)])
    assert res.exit_code == 2 and _flat(f"{no_weights / 'adapter_model.safetensors'}: missing") in _flat(res.output)
    no_cfg = _fake_adapter(tmp_path / "nc", files=("adapter_model.safetensors",))
    res = runner.invoke(app, ["adapters", "check", str(no_cfg)])
    assert res.exit_code == 2 and _flat(f"{no_cfg / 'adapter_config.json'}: missing") in _flat(res.output)
    no_meta = tmp_path / "nm"
    no_meta.mkdir()
    (no_meta / "adapter_config.json").write_text("{}")
    res = runner.invoke(app, ["adapters", "check", str(no_meta)])
    assert res.exit_code == 2 and _flat(f"{no_meta / 'simstudent.json'}: missing") in _flat(res.output)


def test_train_on_an_empty_split_is_a_clear_error(tmp_path: Path) -> None:
    from simstudent.data.jsonl import write_dataset

    data = tmp_path / "one.jsonl"
    # One student only: with a test-student fraction of 1.0 every student is a test student.
    write_dataset(Dataset(name="one", streams=[_stream("s1", "add", ["x = 1"], start=0)]), data)
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--exp", "loop", "--test-fraction", "1.0",
                                   "--out", str(tmp_path / "a")])
    assert res.exit_code == 2, res.output
    text = _flat(res.output)
    assert _flat("the train split is empty") in text and _flat(str(data)) in text
    assert not (tmp_path / "a").exists()  # nothing loaded, nothing written


def test_eval_refuses_an_adapter_trained_on_the_test_students(itap_dir: Path, tmp_path: Path) -> None:
    from simstudent.data import load_dataset

    split = make_split(load_dataset(itap_dir), SplitConfig(seed=0))
    adapter = _fake_adapter(tmp_path / "ad", split=manifest_record(split.manifest))
    res = CliRunner().invoke(app, ["eval", "exp2", "--data", str(itap_dir), "--adapter", str(adapter),
                                   "--split-seed", "1", "--out", str(tmp_path / "run"), "--limit", "1"])
    assert res.exit_code == 2, res.output
    text = _flat(res.output)
    assert _flat("overlaps the adapter's training split") in text
    assert _flat("test student(s) were training students of the adapter") in text
    # Closed-loop rollouts on that split are refused the same way, before any model loads.
    res = CliRunner().invoke(app, ["eval", "rollout", "--data", str(itap_dir), "--adapter", str(adapter),
                                   "--split-seed", "1", "--out", str(tmp_path / "rollout"), "--limit", "1"])
    assert res.exit_code == 2, res.output
    assert _flat("overlaps the adapter's training split") in _flat(res.output)


def test_train_cli_loop_on_a_tiny_model(tmp_path: Path) -> None:
    """`simstudent train --exp loop` end to end on a tiny random model: the adapter records
    the loop template, its history bound and the split manifest; the agent then uses both."""
    pytest.importorskip("peft")
    from simstudent.agent.prompting import resolve_template
    from simstudent.agent.student import StudentConfig
    from simstudent.data.jsonl import write_dataset
    from simstudent.models.adapters import load_adapter_meta
    from simstudent.models.tiny import build_tiny_model

    tiny = build_tiny_model(tmp_path / "tiny")
    streams = [_stream(f"s{i}", p, ["x = 1", "x = 2"], start=j) for i in range(5) for j, p in enumerate(("add", "sub"))]
    data = tmp_path / "d.jsonl"
    write_dataset(Dataset(name="d", streams=streams, problems={"add": ADD, "sub": SUB}), data)
    out = tmp_path / "loop-solution"
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--exp", "loop", "--template", "ft-loop-solution",
                                   "--model", str(tiny), "--max-steps", "2", "--batch-size", "2", "--grad-accum", "1",
                                   "--history", "3", "--problem-fraction", "0", "--threads", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    meta = load_adapter_meta(out)
    assert (meta.exp, meta.template, meta.steps, meta.model_extra["history"]) == ("loop", "ft-loop-solution", 2, 3)
    assert meta.split["test_student_fraction"] == 0.2 and len(meta.split["train_students"]) == 4
    assert meta.n_examples == 4 * 2 * 2  # 4 train students x 2 problems x 2 attempts
    resolved = resolve_template(StudentConfig(adapter=str(out)))
    assert (resolved.name, resolved.history) == ("ft-loop-solution", 3)
