"""Continuous scheduling (a student's next request joins the running decode batch) and
loop stopping (``SamplingParams.stop_repeats``).

The cohort tests run the real grader and bundled problems/personas; the model is either
the scripted HashBackend (answers depend only on the request) driven in a scrambled
continuous order, or a tiny random transformers model built in the test (fp32, whose
samples do not depend on batch composition) through the real decode loop."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from simstudent.agent.cohort import ATTEMPTS_FILE, AttemptRecord, Cohort, CohortConfig, read_records
from simstudent.agent.student import StudentConfig
from simstudent.models.base import Completion, GenerationRequest, SamplingParams
from simstudent.metrics.degeneration import repeats_at_end
from conftest import DEMO_PERSONAS, DEMO_PROBLEMS
from test_agent_fakes import HashBackend


class ScrambledContinuousHash(HashBackend):
    """HashBackend answers, scheduled continuously: 1-3 waiting requests at a time, in a
    shuffled order, so students at different attempt indices share "batches"."""

    supports_continuous = True

    def generate_continuous(self, feed):
        rng = random.Random(3)
        queue = list(feed([]))
        while queue:
            rng.shuffle(queue)
            n = rng.randint(1, 3)
            take, queue = queue[:n], queue[n:]
            done = [(k, c) for (k, _), c in zip(take, self.generate([r for _, r in take]))]
            queue += feed(done)


def by_key(out: Path) -> dict:
    """Every attempt keyed by (student, problem, index); each slot's lines in index order."""
    table, last = {}, {}
    for r in read_records(out / ATTEMPTS_FILE, AttemptRecord):
        slot = (r.student_id, r.problem_id)
        assert r.index == last.get(slot, -1) + 1, f"{slot}: attempt {r.index} out of order"
        last[slot] = r.index
        table[slot + (r.index,)] = (r.code, r.completion, r.timestamp, r.grade.error_type, r.finish_reason)
    return table


def test_repeats_at_end_hand_examples() -> None:
    # "b" three times in a row at the end -> loop; only twice -> not yet
    assert repeats_at_end("a\nb\nb\nb\n", 3)
    assert not repeats_at_end("a\nb\nb\n", 3)
    # a two-line block ("  y", "  z") three times; trailing spaces ignored
    assert repeats_at_end("x\n  y\n  z \n  y\n  z\n  y\n  z\n", 3)
    # blank lines are skipped (as the degeneration measure does); the unfinished last
    # line is not looked at
    assert not repeats_at_end("x\n\n\n\n\n", 3)
    assert repeats_at_end("x\n\nx\n\nx\n", 3)
    assert not repeats_at_end("b\nb\nb", 3)
    # repeated, but not at the end
    assert not repeats_at_end("b\nb\nb\nc\n", 3)


def test_continuous_cohort_writes_what_step_by_step_writes(tmp_path, grader, world) -> None:
    problems, personas = world
    cfg = CohortConfig(problems=DEMO_PROBLEMS, personas=DEMO_PERSONAS, n_per_persona=2,
                       student=StudentConfig(max_attempts=5, seed=11, save_prompts=False))
    step = Cohort(HashBackend(), grader, problems, personas, cfg, tmp_path / "step")
    step.run(progress=False)
    assert step.steps > 1
    fast = ScrambledContinuousHash()
    Cohort(fast, grader, problems, personas, cfg, tmp_path / "cont", schedule="continuous").run(progress=False)
    # continuous: many small calls, never one per step of all live students
    assert max(fast.calls) <= 3 and len(fast.calls) > step.steps
    assert by_key(tmp_path / "cont") == by_key(tmp_path / "step")
    # the line order differs, yet the folder resumes as finished
    resumed = Cohort(ScrambledContinuousHash(), grader, problems, personas, cfg, tmp_path / "cont")
    resumed.run(progress=False)
    assert any("resumed" in n for n in resumed.notes) and resumed.generated == 0


def test_a_backend_without_continuous_batching_is_refused_for_it(tmp_path, grader, world) -> None:
    from simstudent.errors import ConfigError

    problems, personas = world
    cfg = CohortConfig(problems=DEMO_PROBLEMS, personas=DEMO_PERSONAS)
    with pytest.raises(ConfigError, match="no continuous batching"):
        Cohort(HashBackend(), grader, problems, personas, cfg, tmp_path, schedule="continuous")


# ---------------------------------------------------------------- the real decode loop

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simstudent.models.tiny import build_tiny_model

    torch.set_num_threads(1)
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", hidden=64)


def hf(tiny: Path, **kw):
    from simstudent.models import get_backend

    return get_backend("hf", model=str(tiny), dtype="fp32", **kw)


def test_hf_continuous_requests_sample_as_they_would_alone(tiny: Path) -> None:
    """Chains of requests: each finished completion sends its chain's next request into
    the running batch (batch 2, budgets differ, so rows join mid-decode)."""
    be = hf(tiny, batch_size=2)
    prompts = ["def f(x):", "Hello", "for i in range(3):"]

    def req(chain: int, step: int) -> GenerationRequest:
        return GenerationRequest(prompt=prompts[chain] + " #" * step,
                                 sampling=SamplingParams(max_new_tokens=3 + 4 * chain + step, seed=10 * chain + step))

    got: dict = {}

    def feed(done):
        if not done:
            return [((c, 0), req(c, 0)) for c in range(3)]
        got.update(done)
        return [((c, s + 1), req(c, s + 1)) for (c, s), _ in done if s < 2]

    be.generate_continuous(feed)
    assert sorted(got) == [(c, s) for c in range(3) for s in range(3)]
    for (c, s), comp in got.items():
        alone = be.generate([req(c, s)])[0]
        assert comp.text == alone.text and comp.finish_reason == alone.finish_reason
        assert comp.settings["batching"] == "continuous" and comp.settings["seed"] == 10 * c + s


def test_hf_cohort_continuous_equals_step_by_step_in_fp32(tmp_path, grader, world, tiny: Path) -> None:
    problems, personas = world
    cfg = CohortConfig(problems=DEMO_PROBLEMS, personas=DEMO_PERSONAS,
                       student=StudentConfig(max_attempts=3, seed=5, save_prompts=False, chat=False,
                                             sampling=SamplingParams(max_new_tokens=24, stop_repeats=3)))
    Cohort(hf(tiny, batch_size=3), grader, problems, personas, cfg, tmp_path / "step", schedule="step").run(
        progress=False)
    Cohort(hf(tiny, batch_size=3), grader, problems, personas, cfg, tmp_path / "cont").run(progress=False)
    step, cont = by_key(tmp_path / "step"), by_key(tmp_path / "cont")
    assert len(step) == 4 * 3  # the random model never passes or submits: every slot uses its budget
    assert cont == step
    recs = read_records(tmp_path / "cont" / ATTEMPTS_FILE, AttemptRecord)
    assert all(r.sampling["batching"] == "continuous" and r.sampling["stop_repeats"] == 3 for r in recs)


def test_a_looping_row_is_cut_and_recorded_as_truncated(tiny: Path) -> None:
    """The loop's own check, token by token: the row ends as soon as the third copy
    of the line is complete, not before."""
    from simstudent.agent.student import finish_reason
    from simstudent.models.decode import DecodeItem, DecodeLoop, _Row

    be = hf(tiny)
    loop = DecodeLoop(be.model, be.tokenizer, eos_ids=be._eos_ids, batch_size=1, device="cpu")
    line = be.tokenizer.encode("    x = 1\n", add_special_tokens=False)
    item = DecodeItem(prompt=[1], sampling=SamplingParams(max_new_tokens=100, stop_repeats=3), stops=[], seed=0)
    row = _Row(0, item, torch.Generator())
    tokens = line * 3
    ends = [loop._finish(row, t) for t in tokens]
    assert all(e is None for e in ends[:-1])
    assert ends[-1].finish_reason == "repetition" and ends[-1].text == "    x = 1\n" * 3
    # off (0): the same tokens run on
    row = _Row(0, DecodeItem(prompt=[1], sampling=SamplingParams(max_new_tokens=100), stops=[], seed=0),
               torch.Generator())
    assert all(loop._finish(row, t) is None for t in tokens)
    # what the backend reports and the attempt records: truncated, with the reason
    comp = Completion(text="x", finish_reason="length", settings={"cut": "repetition"})
    assert finish_reason(comp, submitted=False) == "length"


def test_a_folder_made_before_stop_repeats_resumes_with_it_off(tmp_path, grader, world) -> None:
    """Settings added later count with their default (0 = off) in an older cohort.json:
    the same command with the cut off resumes it; with the cut on it is refused, named."""
    import json

    from simstudent.agent.cohort import MANIFEST_FILE, CohortError

    problems, personas = world

    def cfg(cut: int) -> CohortConfig:
        return CohortConfig(problems=DEMO_PROBLEMS, personas=DEMO_PERSONAS, student=StudentConfig(
            max_attempts=3, seed=2, save_prompts=False, sampling=SamplingParams(max_new_tokens=64, stop_repeats=cut)))

    Cohort(HashBackend(), grader, problems, personas, cfg(0), tmp_path).run(progress=False, max_steps=1)
    path = tmp_path / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    del manifest["config"]["student"]["sampling"]["stop_repeats"]  # as an older version wrote it
    path.write_text(json.dumps(manifest))
    with pytest.raises(CohortError, match="stop_repeats: 0 on disk, 3 asked"):
        Cohort(HashBackend(), grader, problems, personas, cfg(3), tmp_path).run(progress=False)
    resumed = Cohort(HashBackend(), grader, problems, personas, cfg(0), tmp_path)
    resumed.run(progress=False)
    assert any("resumed" in n for n in resumed.notes)


def test_redraws_replace_unchanged_repeats_the_same_way_in_both_schedules(tmp_path, grader, world) -> None:
    from simstudent.metrics.normalise import normalise_code

    problems, personas = world
    cfg = CohortConfig(problems=DEMO_PROBLEMS, personas=DEMO_PERSONAS, n_per_persona=2,
                       student=StudentConfig(max_attempts=5, seed=11, save_prompts=False, redraw_repeats=2))
    Cohort(HashBackend(), grader, problems, personas, cfg, tmp_path / "step").run(progress=False)
    Cohort(ScrambledContinuousHash(), grader, problems, personas, cfg, tmp_path / "cont",
           schedule="continuous").run(progress=False)
    assert by_key(tmp_path / "cont") == by_key(tmp_path / "step")
    records = sorted(read_records(tmp_path / "step" / ATTEMPTS_FILE, AttemptRecord),
                     key=lambda r: (r.student_id, r.problem_id, r.index))
    redraws = 0
    for prev, rec in zip(records, records[1:]):
        if (prev.student_id, prev.problem_id) != (rec.student_id, rec.problem_id):
            continue
        n = rec.sampling.get("redraws", 0)
        redraws += n
        if n:  # a redraw samples the whole distribution
            assert (rec.sampling["temperature"], rec.sampling["top_p"], rec.sampling["top_k"],
                    rec.sampling["min_p"]) == (1.0, 1.0, 0, 0.05)
        # An unchanged repeat survives only when both redraws repeated it too.
        if normalise_code(rec.code) == normalise_code(prev.code):
            assert n == 2
    assert redraws > 0  # the hash backend repeats one body in six: some attempts were redrawn
