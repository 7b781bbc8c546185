"""The simulated student's loop and stop rules, with the REAL sandboxed grader, real
problem specs and personas; only the model is scripted (tests/test_agent_fakes.py)."""

from __future__ import annotations

import json
import random

import pytest

from simstudent.agent.prompting import PromptSettings, context_stream
from simstudent.agent.student import SimulatedStudent, StudentConfig, derive_seed, normalise_code
from simstudent.agent.timing import GapSampler
from simstudent.grader import Grader, GraderConfig
from simstudent.problems import find_problem, load_persona
from simstudent.schema import GradeResult
from test_agent_fakes import ScriptedBackend

WRONG_A = "def count_stairs(n):\n    return n"
WRONG_B = "def count_stairs(n):\n    if n == 1:\n        return 1\n    return count_stairs(n - 1) + 1"


def code(body: str, submit: bool = False) -> str:
    return f"<code>{body}</code>" + ("<SUBMIT>" if submit else "")


@pytest.fixture(scope="module")
def grader():
    with Grader(GraderConfig(workers=1, cache_path=None)) as g:
        yield g


@pytest.fixture(scope="module")
def problem():
    return find_problem("hw04_q2")


@pytest.fixture(scope="module")
def persona():
    return load_persona("student_123")


def student(script, grader, persona, **cfg):
    # The bare stop rules: no redraws, and a <SUBMIT> ends the trajectory (the tests
    # of those two settings turn them on).
    cfg.setdefault("redraw_repeats", 0)
    cfg.setdefault("ignore_failing_submit", False)
    backend = ScriptedBackend(script)
    return SimulatedStudent(backend, grader, persona, StudentConfig(**cfg)), backend


def test_a_failing_submit_can_be_ignored_until_the_student_passes(grader, problem, persona):
    right = "def count_stairs(n):\n    if n <= 1:\n        return 1\n    return count_stairs(n - 1) + count_stairs(n - 2)"
    s, _ = student([code(WRONG_A, submit=True), code(WRONG_B), code(right, submit=True)], grader, persona,
                   ignore_failing_submit=True)
    traj = s.solve(problem)
    # The first <SUBMIT> came with failing code: recorded, but the student went on.
    assert [a.submitted for a in traj.attempts] == [True, False, True]
    assert traj.attempts[0].grade.error_type == "logical"
    assert traj.stop_reason == "submitted" and traj.attempts[-1].grade.error_type == "no_error"
    assert traj.meta["ignore_failing_submit"] is True


def test_submit_stops_and_every_attempt_is_really_graded(grader, problem, persona):
    s, backend = student([code(WRONG_A), code(WRONG_B, submit=True)], grader, persona)
    traj = s.solve(problem)
    assert traj.stop_reason == "submitted"
    assert [a.index for a in traj.attempts] == [0, 1]
    assert [a.submitted for a in traj.attempts] == [False, True]
    first = traj.attempts[0].grade
    assert isinstance(first, GradeResult) and first.error_type == "logical"
    assert (first.passed, first.total) == (3, 8)  # n, 1..3 right; 4, 0, 5, 10, 15 wrong
    assert first.isolation in ("bubblewrap", "unshare", "none")
    assert traj.attempts[1].code == WRONG_B
    assert traj.attempts[1].completion == code(WRONG_B, submit=True)
    assert backend.calls == [1, 1]
    # The second prompt shows the first attempt followed by the grader's feedback on it.
    second = backend.requests[1].messages[-1]["content"]
    assert WRONG_A in second and "FEEDBACK:" in second and "count_stairs(4)" in second
    # Timestamps move forward.
    assert traj.attempts[0].timestamp < traj.attempts[1].timestamp
    # Round trip as the run command writes it.
    assert json.loads(traj.model_dump_json())["attempts"][0]["grade"]["error_type"] == "logical"


def test_max_attempts(grader, problem, persona):
    bodies = [WRONG_A, WRONG_B, WRONG_A + "  # again", "def count_stairs(n):\n    return 2 * n"]
    s, _ = student([code(b) for b in bodies], grader, persona, max_attempts=3)
    traj = s.solve(problem)
    assert traj.stop_reason == "max_attempts"
    assert len(traj.attempts) == 3
    assert all(a.grade is not None for a in traj.attempts)


def test_stall_same_code_three_times(grader, problem, persona):
    # Whitespace-only differences count as the same code.
    variants = [WRONG_B, WRONG_B + "\n\n", WRONG_B.replace("return 1", "return 1   ")]
    s, _ = student([code(WRONG_A)] + [code(v) for v in variants], grader, persona)
    traj = s.solve(problem)
    assert traj.stop_reason == "stalled"
    assert len(traj.attempts) == 4


def test_passing_code_stops_unless_told_to_go_on(grader, problem, persona):
    s, _ = student([code(problem.reference_solution)], grader, persona)
    traj = s.solve(problem)
    assert traj.stop_reason == "passed" and traj.attempts[0].grade.error_type == "no_error"
    s, _ = student([code(problem.reference_solution), code(problem.reference_solution, True)],
                   grader, persona, stop_on_pass=False)
    assert s.solve(problem).stop_reason == "submitted"


def test_text_without_code_is_graded_honestly(grader, problem, persona):
    s, _ = student(["I think you should use recursion here.", ""], grader, persona, max_attempts=2)
    traj = s.solve(problem)
    prose, empty = traj.attempts
    assert prose.completion == "I think you should use recursion here."
    assert prose.code == prose.completion  # no skeleton substituted
    assert prose.grade.error_type == "compile" and prose.grade.passed == 0
    assert empty.code == "" and empty.grade.passed == 0 and empty.grade.error_type != "no_error"


def test_markdown_fence_is_parsed(grader, problem, persona):
    s, _ = student([f"Here is my attempt:\n```python\n{problem.reference_solution}\n```\nDone."],
                   grader, persona)
    assert s.solve(problem).attempts[0].grade.error_type == "no_error"


def test_extra_feedback_goes_into_the_prompt(grader, problem, persona):
    s, backend = student([code(WRONG_A), code(WRONG_B), code(WRONG_A)], grader, persona)
    s.start(problem)
    s.next_attempt()
    hint = "Check the case count_stairs(4): expected 5, got 4."
    second = s.next_attempt(extra_feedback=hint)
    assert second.hint == hint
    assert f"HINT: {hint}" in backend.requests[1].messages[-1]["content"]
    assert "HINT:" not in backend.requests[0].messages[-1]["content"]
    # Later prompts keep the hint after the attempt it answered.
    s.next_attempt()
    assert f"HINT: {hint}" in backend.requests[2].messages[-1]["content"]


def test_backend_failure_stops_with_error(grader, problem, persona):
    s, _ = student([code(WRONG_A)], grader, persona)  # the script runs out on attempt 2
    s.start(problem)
    s.next_attempt()
    with pytest.raises(RuntimeError, match="script exhausted"):
        s.next_attempt()
    assert s.done and s.trajectory.stop_reason == "error"
    assert "script exhausted" in s.trajectory.meta["error"]
    assert len(s.trajectory.attempts) == 1


def test_persona_history_is_the_past_problem_context(grader, problem, persona):
    s, backend = student([code(WRONG_A)], grader, persona, max_attempts=1)
    s.solve(problem)
    prompt = backend.requests[0].messages[-1]["content"]
    past = context_stream(persona, problem.id)
    assert past is not None and past.problem_id == "hw03_q3"  # the latest earlier problem
    assert "PAST PROBLEM SUBMISSIONS" in prompt and "count_digit" in prompt
    s, backend = student([code(WRONG_A)], grader, persona, max_attempts=1,
                         prompt=PromptSettings(context=False))
    s.solve(problem)
    assert "PAST PROBLEM SUBMISSIONS" not in backend.requests[0].messages[-1]["content"]


def test_chat_loop_primes_the_current_signature(grader, problem, persona):
    """chat-loop requests start the answer with <code> and count_stairs's signature line
    (and nothing of a solution); prime_signature=False and other templates do not."""
    s, backend = student([code(WRONG_A)], grader, persona, max_attempts=1)
    traj = s.solve(problem)
    req = backend.requests[0]
    assert traj.template == "chat-loop"
    assert req.assistant_prefix == "<code>\ndef count_stairs(n):"
    assert "[assistant, primed]\n<code>\ndef count_stairs(n):" in traj.attempts[0].prompt
    # Past work comes first; the prompt ends with the current TODO CODE and the ask.
    prompt = req.messages[-1]["content"]
    assert prompt.index("count_digit") < prompt.index("TODO CODE: <code>def count_stairs(n):")
    assert prompt.endswith("</code>\n\nWrite the student's next attempt at count_stairs.")
    for cfg in ({"prime_signature": False}, {"template": "ft-loop"}, {"template": "chat-exp2-ctx"}):
        s, backend = student([code(WRONG_A)], grader, persona, max_attempts=1, **cfg)
        s.solve(problem)
        assert backend.requests[0].assistant_prefix is None, cfg


def test_exp2_adapter_template_hides_feedback(tmp_path, grader, problem, persona):
    adapter = tmp_path / "ad"
    adapter.mkdir()
    (adapter / "simstudent.json").write_text(json.dumps(
        {"name": "ad", "base_model": "default", "template": "ft-exp2-ctx", "exp": "exp2", "k": 3, "context": True}))
    s, backend = student([code(WRONG_A), code(WRONG_B)], grader, persona, adapter=str(adapter), max_attempts=2)
    traj = s.solve(problem)
    assert traj.template == "ft-exp2-ctx"
    req = backend.requests[1]
    assert req.prompt is not None and req.adapter == str(adapter)
    assert "SUBMISSIONS: 1. None\n2. None\n3. <code>" + WRONG_A in req.prompt  # the paper's layout
    assert "FEEDBACK" not in req.prompt
    assert "PAST PROBLEM SUBMISSIONS:" in req.prompt


def test_requests_carry_seeds_and_stop_strings(grader, problem, persona):
    s, backend = student([code(WRONG_A), code(WRONG_B)], grader, persona, max_attempts=2, seed=7)
    s.solve(problem)
    seeds = [r.sampling.seed for r in backend.requests]
    assert seeds == [derive_seed(7, "student_123", "hw04_q2", i) for i in range(2)]
    assert len(set(seeds)) == 2
    assert "</code>\n" in backend.requests[0].stop
    assert backend.requests[0].sampling.temperature == 0.7  # the paper's default


def test_same_seed_same_timestamps(grader, problem, persona):
    a, _ = student([code(WRONG_A), code(WRONG_B)], grader, persona, max_attempts=2, seed=3)
    b, _ = student([code(WRONG_A), code(WRONG_B)], grader, persona, max_attempts=2, seed=3)
    ta = [x.timestamp for x in a.solve(problem).attempts]
    tb = [x.timestamp for x in b.solve(problem).attempts]
    assert ta == tb


def test_normalise_code():
    # Stalling is judged on the metrics' normalisation: layout and comments do not count,
    # structure and tokens do.
    assert normalise_code("def f():\n    return 1   \n\n") == normalise_code("def f():\n    return 1")
    assert normalise_code("def f():\n    return 1  # same") == normalise_code("def f():\n    return 1")
    assert normalise_code("def f():\n    return 1") != normalise_code("def f():\n    return 2")
    assert normalise_code("def f():\n    x = 1\n    return x") != normalise_code("def f():\n    x = 1\nreturn x")


def test_default_gaps_are_lognormal_with_median_60s():
    rng = random.Random(0)
    gaps = sorted(GapSampler().sample(rng) for _ in range(4000))
    assert 50 < gaps[len(gaps) // 2] < 70
    assert gaps[0] >= 1.0


def test_a_missing_gap_source_is_one_named_error_before_any_student_starts(tmp_path):
    from simstudent.errors import MissingFileError

    missing = tmp_path / "nope.csv"
    with pytest.raises(MissingFileError, match="nope.csv: no such file or folder") as caught:
        GapSampler.from_dataset(missing)
    assert "\n" not in str(caught.value)
    # A student given the path in its config gets the same error.
    with pytest.raises(MissingFileError, match="nope.csv"):
        SimulatedStudent(ScriptedBackend([]), None, load_persona("student_123"),
                         StudentConfig(gap_source=str(missing)))


def test_itap_gaps_come_from_real_timestamps(itap_dir):
    sampler = GapSampler.from_dataset(itap_dir)
    assert len(sampler.gaps) == 1913  # consecutive Submit pairs within ITAP streams
    assert sampler.per_minute  # ITAP logs time per minute
    rng = random.Random(1)
    draws = [sampler.sample(rng) for _ in range(2000)]
    assert min(draws) >= 1.0
    # 43 % of ITAP gaps are 0 min and 25 % are 1 min: most draws fall under two minutes.
    assert 0.5 < sum(d < 120 for d in draws) / len(draws) < 0.9
