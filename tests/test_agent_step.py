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
    cfg = {"redraw_repeats": 0, "ignore_failing_submit": False, **cfg}  # the bare loop: one call per step
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


# ---------------------------------------------------------------- async tutors


class _AsyncTutor:
    """An async tutor (as if it awaited a web service): hints after a failing attempt."""

    name = "async-nudge"
    version = "1"

    def __init__(self):
        self.calls = 0

    async def hint(self, problem, trajectory):
        import asyncio

        self.calls += 1
        await asyncio.sleep(0)
        if trajectory.attempts and trajectory.attempts[-1].grade.error_type != "no_error":
            return f"attempt {len(trajectory.attempts)} failed: read the doctests"
        return None


def test_async_student_with_an_async_tutor(grader):
    import asyncio

    from simstudent.agent import AsyncSimulatedStudent

    wrong = "<code>def count_stairs(n):\n    return n\n</code>"
    backend = ScriptedBackend([wrong, wrong.replace("return n", "return n + 0"), wrong + "<SUBMIT>"])
    student = AsyncSimulatedStudent(backend, grader, load_persona("student_123"), StudentConfig(save_prompts=True, redraw_repeats=0, ignore_failing_submit=False))
    tutor = _AsyncTutor()
    traj = asyncio.run(student.solve(find_problem("hw04_q2"), tutor))
    assert traj.stop_reason == "submitted" and len(traj.attempts) == 3 and tutor.calls == 3
    assert [a.hint for a in traj.attempts] == [None, "attempt 1 failed: read the doctests",
                                               "attempt 2 failed: read the doctests"]
    assert "attempt 1 failed: read the doctests" in traj.attempts[1].prompt  # the model saw it


def test_cohort_awaits_an_async_tutor(tmp_path, grader):
    from simstudent.agent import Cohort, CohortConfig
    from test_agent_fakes import HashBackend

    cfg = CohortConfig(problems=["hw04_q2"], personas=["student_123"], n_per_persona=2, tutor="async-nudge",
                       student=StudentConfig(max_attempts=3, seed=4, save_prompts=False))
    trajs = Cohort(HashBackend(submit=False), grader, {"hw04_q2": find_problem("hw04_q2")},
                   [load_persona("student_123")], cfg, tmp_path, tutor=_AsyncTutor()).run(progress=False)
    hinted = [a for t in trajs for a in t.attempts if a.hint]
    assert hinted and all(h.hint.endswith("read the doctests") for h in hinted)
