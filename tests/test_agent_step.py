"""The one closed-loop step (agent.step.run_step) and the one append-only store
(data.jsonl.JsonlStore). Real grader, problem and persona; the model is scripted."""

from __future__ import annotations

import pytest

from simstudent.agent.step import run_step
from simstudent.agent.student import SimulatedStudent, StudentConfig
from simstudent.data.errors import DataError
from simstudent.data.jsonl import JsonlStore
from simstudent.grader import Grader, GraderConfig
from simstudent.models.base import Completion
from simstudent.problems import find_problem, load_persona
from simstudent.schema import Attempt, GradeResult
from test_agent_fakes import ScriptedBackend


@pytest.fixture(scope="module")
def grader():
    with Grader(GraderConfig(workers=1, cache_path=None)) as g:
        yield g


def students(backend, grader, n, **cfg):
    problem, persona = find_problem("hw04_q2"), load_persona("student_123")
    out = []
    for i in range(n):
        s = SimulatedStudent(backend, grader, persona, StudentConfig(save_prompts=False, **cfg), student_id=f"s{i}")
        s.start(problem)
        out.append(s)
    return out


def test_one_call_per_step_and_what_each_attempt_records(grader):
    backend = ScriptedBackend([
        Completion(text="<code>def count_stairs(n):\n    return n\n</code>", completion_tokens=14),
        Completion(text="<code>def count_stairs(n):\n    return n</code><SUBMIT>", completion_tokens=15),
        Completion(text='<code>def count_stairs(n):\n    """Doc', finish_reason="length", completion_tokens=192),
    ])
    group = students(backend, grader, 3, sampling={"temperature": 0.5, "max_new_tokens": 192})
    attempts = run_step(group, backend, grader)
    assert backend.calls == [3]  # one batched generate call
    a, b, c = attempts
    assert (a.finish_reason, b.finish_reason, c.finish_reason) == ("stop", "submit", "length")
    assert (a.completion_tokens, b.completion_tokens, c.completion_tokens) == (14, 15, 192)
    assert c.truncated and not a.truncated and not b.truncated
    assert c.grade.error_type == "compile"  # what the grader says; the attempt says why
    # The backend reported no settings of its own: the request's are stored, with its seed.
    assert a.sampling["temperature"] == 0.5 and a.sampling["max_new_tokens"] == 192
    assert a.sampling["seed"] == backend.requests[0].sampling.seed
    assert a.sampling["seed"] != b.sampling["seed"]  # one seed per student
    assert group[1].trajectory.stop_reason == "submitted" and not group[0].done


def test_settings_the_backend_reports_are_stored(grader):
    completion = Completion(text="<code>def count_stairs(n):\n    return 1\n</code>")
    completion.settings = {"temperature": 0.7, "repetition_penalty": 1.1}  # what a backend may report
    backend = ScriptedBackend([completion])
    (att,) = run_step(students(backend, grader, 1), backend, grader)
    assert att.sampling == {"temperature": 0.7, "repetition_penalty": 1.1}


def test_an_error_completion_stops_only_its_student_with_the_backends_message(grader):
    backend = ScriptedBackend([
        Completion(text="", finish_reason="error", error="HTTP 500: model overloaded"),
        Completion(text="<code>def count_stairs(n):\n    return n\n</code>"),
    ])
    bad, good = students(backend, grader, 2)
    out = run_step([bad, good], backend, grader)
    assert out[0] is None and out[1] is not None
    assert bad.trajectory.stop_reason == "error"
    assert bad.trajectory.meta["error"] == "HTTP 500: model overloaded"  # Completion.error, not its text
    assert not good.done


def test_next_attempt_goes_through_the_same_step(grader):
    backend = ScriptedBackend([Completion(text="", finish_reason="error", error="timeout")])
    (s,) = students(backend, grader, 1)
    with pytest.raises(RuntimeError, match="timeout"):
        s.next_attempt()
    assert s.trajectory.stop_reason == "error" and s.trajectory.meta["error"] == "timeout"


# ---------------------------------------------------------------- the store


def test_store_is_typed_append_only_and_repairs_a_torn_tail(tmp_path):
    store = JsonlStore(tmp_path / "a.jsonl", Attempt)
    store.append([Attempt(index=0, code="x = 1"), Attempt(index=1, code="x = 2")])
    with open(store.path, "ab") as fh:  # a kill mid-write
        fh.write(b'{"index": 2, "co')
    assert [a.index for a in store.read()] == [0, 1] and store.torn_line == 3
    JsonlStore(store.path, Attempt).append([Attempt(index=2, code="x = 3")])  # cuts the fragment first
    assert [a.code for a in store.read()] == ["x = 1", "x = 2", "x = 3"] and store.torn_line is None
    with pytest.raises(TypeError, match="holds Attempt records, not GradeResult"):
        store.append([GradeResult(error_type="compile", passed=0, total=1)])


def test_store_names_file_line_and_field_of_a_bad_record(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"index": 0, "code": "a"}\n{"index": "two", "code": "b"}\n{"index": 2, "code": "c"}\n')
    with pytest.raises(DataError) as err:
        JsonlStore(path, Attempt).read()
    assert err.value.line == 2 and err.value.field == "index" and "b.jsonl" in str(err.value)
