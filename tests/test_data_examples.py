"""Golden tests: exp1 / exp2 example shapes on a hand-written dataset.

Student "s" worked on P1 (4 attempts a0..a3), then P2 (5 attempts b0..b4), then
P3 (1 attempt c0); student "r" only on P2 (r0, r1). Codes are their own labels.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from simstudent.data import DataError
from simstudent.data.examples import (
    build_exp1_examples,
    build_exp2_examples,
    relative_index,
    stage_index,
)
from simstudent.schema import Dataset, Stream, Submission

T0 = datetime(2016, 2, 1, 9, 0)


def _stream(student, problem, prefix, n, first_order, day):
    return Stream(
        student_id=student,
        problem_id=problem,
        submissions=[
            Submission(code=f"{prefix}{i}", order=first_order + i, timestamp=T0 + timedelta(days=day, minutes=i),
                       recorded_correct=i == n - 1)
            for i in range(n)
        ],
    )


@pytest.fixture
def ds() -> Dataset:
    return Dataset(
        name="golden",
        streams=[
            # listed out of time order on purpose: "earlier" must come from timestamps/order
            _stream("s", "P2", "b", 5, 10, 1),
            _stream("s", "P1", "a", 4, 1, 0),
            _stream("s", "P3", "c", 1, 20, 2),
            _stream("r", "P2", "r", 2, 30, 0),
        ],
    )


def _shape(examples):
    return [(e.student_id, e.problem_id, e.stage, e.target_index, e.target, e.is_final,
             e.context_problem_id, e.context_indices, e.context) for e in examples]


def test_stage_and_relative_index_rules():
    assert [stage_index(s, 4) for s in ("first", "middle", "last")] == [0, 1, 3]
    assert [stage_index(s, 5) for s in ("first", "middle", "last")] == [0, 2, 4]
    assert [stage_index(s, 1) for s in ("first", "middle", "last")] == [0, 0, 0]
    assert [stage_index(s, 2) for s in ("first", "middle", "last")] == [0, 0, 1]
    # n=5 -> n'=4: t * 3/4 rounded half up
    assert [relative_index(t, 5, 4) for t in range(5)] == [0, 1, 2, 2, 3]
    assert [relative_index(t, 2, 5) for t in range(2)] == [0, 4]
    assert relative_index(0, 1, 5) == 4  # a one-attempt stream sits at its end


def test_exp1_without_context(ds):
    got = _shape(build_exp1_examples(ds, context=False))
    assert got == [
        ("s", "P2", "first", 0, "b0", False, None, [], []),
        ("s", "P2", "middle", 2, "b2", False, None, [], []),
        ("s", "P2", "last", 4, "b4", True, None, [], []),
        ("s", "P1", "first", 0, "a0", False, None, [], []),
        ("s", "P1", "middle", 1, "a1", False, None, [], []),
        ("s", "P1", "last", 3, "a3", True, None, [], []),
        ("s", "P3", "first", 0, "c0", True, None, [], []),
        ("s", "P3", "middle", 0, "c0", True, None, [], []),
        ("s", "P3", "last", 0, "c0", True, None, [], []),
        ("r", "P2", "first", 0, "r0", False, None, [], []),
        ("r", "P2", "middle", 0, "r0", False, None, [], []),
        ("r", "P2", "last", 1, "r1", True, None, [], []),
    ]


def test_exp1_with_context(ds):
    got = _shape(build_exp1_examples(ds, context=True))
    assert got == [
        # P2's earlier problem is P1: same stage of P1 (n'=4 -> 0, 1, 3)
        ("s", "P2", "first", 0, "b0", False, "P1", [0], ["a0"]),
        ("s", "P2", "middle", 2, "b2", False, "P1", [1], ["a1"]),
        ("s", "P2", "last", 4, "b4", True, "P1", [3], ["a3"]),
        # P1 is the student's first problem: no context
        ("s", "P1", "first", 0, "a0", False, None, [], []),
        ("s", "P1", "middle", 1, "a1", False, None, [], []),
        ("s", "P1", "last", 3, "a3", True, None, [], []),
        # P3: the MOST RECENT earlier problem is P2, not P1
        ("s", "P3", "first", 0, "c0", True, "P2", [0], ["b0"]),
        ("s", "P3", "middle", 0, "c0", True, "P2", [2], ["b2"]),
        ("s", "P3", "last", 0, "c0", True, "P2", [4], ["b4"]),
        ("r", "P2", "first", 0, "r0", False, None, [], []),
        ("r", "P2", "middle", 0, "r0", False, None, [], []),
        ("r", "P2", "last", 1, "r1", True, None, [], []),
    ]
    kept = build_exp1_examples(ds, context=True, require_context=True)
    assert {(e.student_id, e.problem_id) for e in kept} == {("s", "P2"), ("s", "P3")}


def _exp2(examples, problem):
    return [(e.target_index, e.prior, e.target, e.is_final, e.context_problem_id, e.context_indices, e.context)
            for e in examples if e.student_id == "s" and e.problem_id == problem]


def test_exp2_k1_and_k3_without_context(ds):
    k1 = build_exp2_examples(ds, k=1, context=False)
    assert len(k1) == 4 + 5 + 1 + 2  # one example per submission
    assert all(e.k == 1 and e.exp == "exp2" and e.stage is None for e in k1)
    assert _exp2(k1, "P1") == [
        (0, [None], "a0", False, None, [], []),
        (1, ["a0"], "a1", False, None, [], []),
        (2, ["a1"], "a2", False, None, [], []),
        (3, ["a2"], "a3", True, None, [], []),
    ]
    k3 = build_exp2_examples(ds, k=3, context=False)
    assert _exp2(k3, "P1") == [
        (0, [None, None, None], "a0", False, None, [], []),
        (1, [None, None, "a0"], "a1", False, None, [], []),
        (2, [None, "a0", "a1"], "a2", False, None, [], []),
        (3, ["a0", "a1", "a2"], "a3", True, None, [], []),  # final: the <SUBMIT> one
    ]
    assert [e.target_correct for e in k3 if e.problem_id == "P1"] == [False, False, False, True]


def test_exp2_with_context_k1(ds):
    got = _exp2(build_exp2_examples(ds, k=1, context=True), "P2")
    # n=5 on P2, n'=4 on P1: t' = 0, 1, 2, 2, 3; window of k+1 = 2 ending at t'
    assert got == [
        (0, [None], "b0", False, "P1", [None, 0], [None, "a0"]),
        (1, ["b0"], "b1", False, "P1", [0, 1], ["a0", "a1"]),
        (2, ["b1"], "b2", False, "P1", [1, 2], ["a1", "a2"]),
        (3, ["b2"], "b3", False, "P1", [1, 2], ["a1", "a2"]),
        (4, ["b3"], "b4", True, "P1", [2, 3], ["a2", "a3"]),
    ]


def test_exp2_with_context_k3(ds):
    examples = build_exp2_examples(ds, k=3, context=True)
    assert _exp2(examples, "P2") == [
        (0, [None, None, None], "b0", False, "P1", [None, None, None, 0], [None, None, None, "a0"]),
        (1, [None, None, "b0"], "b1", False, "P1", [None, None, 0, 1], [None, None, "a0", "a1"]),
        (2, [None, "b0", "b1"], "b2", False, "P1", [None, 0, 1, 2], [None, "a0", "a1", "a2"]),
        (3, ["b0", "b1", "b2"], "b3", False, "P1", [None, 0, 1, 2], [None, "a0", "a1", "a2"]),
        (4, ["b1", "b2", "b3"], "b4", True, "P1", [0, 1, 2, 3], ["a0", "a1", "a2", "a3"]),
    ]
    # one-attempt P3 maps to the end of P2
    assert _exp2(examples, "P3") == [
        (0, [None, None, None], "c0", True, "P2", [1, 2, 3, 4], ["b1", "b2", "b3", "b4"]),
    ]
    # first problem: no context at all (not a window of Nones)
    assert all(e.context == [] and e.context_problem_id is None for e in examples if e.problem_id == "P1")
    assert all(len(e.prior) == 3 for e in examples)


def test_examples_record_their_source_and_have_unique_keys(ds):
    for examples in (build_exp1_examples(ds, context=True), build_exp2_examples(ds, k=3, context=True)):
        keys = [e.key for e in examples]
        assert len(set(keys)) == len(keys)
        for e in examples:
            stream = next(s for s in ds.streams if (s.student_id, s.problem_id) == (e.student_id, e.problem_id))
            assert stream.submissions[e.target_index].code == e.target
            assert e.stream_length == len(stream)


def test_context_source_supplies_history_outside_the_dataset(ds):
    only_p3 = Dataset(name="test", streams=[s for s in ds.streams if s.problem_id == "P3"])
    alone = build_exp2_examples(only_p3, k=1, context=True)
    assert alone[0].context_problem_id is None
    with_history = build_exp2_examples(only_p3, k=1, context=True, context_source=ds)
    assert (with_history[0].context_problem_id, with_history[0].context) == ("P2", ["b3", "b4"])


def test_order_without_timestamps_falls_back_to_order(ds):
    for s in ds.streams:
        for sub in s.submissions:
            sub.timestamp = None
    got = _shape(build_exp1_examples(ds, context=True))
    assert got[6][6] == "P2" and got[0][6] == "P1"


def test_unordered_streams_are_refused_or_skipped(ds):
    ds.streams[3].ordered = False  # r's stream, as a Dublin stream would be
    with pytest.raises(DataError, match="1 of 4 streams are unordered .*'r'.*'P2'.*skip_unordered=True"):
        build_exp1_examples(ds, context=False)
    with pytest.raises(DataError, match="exp2 needs submissions in order"):
        build_exp2_examples(ds, k=1, context=False)
    with pytest.warns(UserWarning, match="skipped 1 unordered streams"):
        examples = build_exp2_examples(ds, k=1, context=False, skip_unordered=True)
    assert "r" not in {e.student_id for e in examples}
    with pytest.raises(ValueError, match="k must be >= 1"):
        build_exp2_examples(ds, k=0, context=False)
