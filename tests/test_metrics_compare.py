"""Pairing, the full comparison and the real-vs-real floor on the same slots."""

from __future__ import annotations

import pytest

from simstudent.metrics.compare import MetricsConfig, compare
from simstudent.metrics.items import detect_mode, pair_items
from simstudent.schema import Dataset, GradeResult, Stream, Submission

CODES = [
    "def f(n):\n    return n\n",
    "def f(n):\n    if n > 0:\n        return n\n    return 0\n",
    "def f(n):\n    total = 0\n    for i in range(n):\n        total = total + i\n    return total\n",
    "def f(n):\n    return sum(range(n))\n",
    "def f(n) return n",
]


def _grade(i: int) -> GradeResult:
    kinds = ["compile", "runtime", "logical", "no_error"]
    et = kinds[i % 4]
    return GradeResult(error_type=et, passed={"compile": 0, "runtime": 0, "logical": 1, "no_error": 2}[et], total=2)


def make_dataset(students: int = 6, problems: int = 2, length: int = 4, shift: int = 0) -> Dataset:
    streams = []
    for s in range(students):
        for p in range(problems):
            n = length + (s + p) % 3
            subs = [Submission(code=CODES[(s + i + shift) % len(CODES)].replace("f(", f"f{p}("), order=100 + i,
                               grade=_grade(s + i + shift), recorded_correct=(i == n - 1)) for i in range(n)]
            streams.append(Stream(student_id=f"s{s}", problem_id=f"p{p}", submissions=subs))
    return Dataset(name="synthetic", streams=streams)


def test_slot_pairing_uses_positions_and_restricts_real_side() -> None:
    real = make_dataset(students=2, problems=1)
    gen = Dataset(streams=[Stream(student_id="s0", problem_id="p0",
                                  submissions=[Submission(code="x", order=0), Submission(code="y", order=3),
                                               Submission(code="z", order=3)])])
    assert detect_mode(real, gen) == "slot"
    p = pair_items(real, gen)
    assert p.mode == "slot"
    assert [it.position for it in p.real] == [0, 3]  # the slot targeted twice appears once
    assert p.pairs == [(0, 0), (1, 1), (1, 2)]
    assert p.generated[1].stages == ("last",)  # stage from the real stream (length 4)


def test_stream_and_matched_pairing() -> None:
    real = make_dataset(students=2, problems=1)
    gen = Dataset(streams=[Stream(student_id="s0", problem_id="p0",
                                  submissions=[Submission(code="x", order=0), Submission(code="y", order=9)])])
    assert detect_mode(real, gen) == "stream"
    assert detect_mode(real, gen.model_copy(), allow_slot=False) == "stream"
    p = pair_items(real, gen)
    # attempt 0 of 2 -> real position 0; attempt 1 of 2 -> real position n-1 = 3
    assert [(p.real[i].position, p.generated[j].position) for i, j in p.pairs] == [(0, 0), (3, 1)]
    other = Dataset(streams=[Stream(student_id="t0", problem_id="p0", submissions=gen.streams[0].submissions)])
    assert detect_mode(real, other) == "matched"
    a, b = pair_items(real, other, seed=1), pair_items(real, other, seed=1)
    assert a.pairs == b.pairs and len(a.pairs) == 2


def test_compare_end_to_end_with_tfidf() -> None:
    real, gen = make_dataset(), make_dataset(shift=1)
    for s in gen.streams:
        s.student_id = "g" + s.student_id
    res = compare(real, gen, MetricsConfig(embedder="tfidf", cache=False), train=real)
    assert res.pairing == "matched" and res.embedder == "tfidf" and res.kind == "compare"
    assert [g.group for g in res.groups] == ["all", "first", "middle", "last"]
    allg = res.group("all")
    # two problems: two cells, each averaged in; values per cell are kept
    assert allg.n_cells == 2 and [c.problem_id for c in allg.cells] == ["p0", "p1"]
    assert allg.knn_distance == pytest.approx(sum(c.knn_distance for c in allg.cells) / 2)
    assert sum(allg.error_types["gen"].values()) == pytest.approx(1)
    assert res.progress is not None and res.progress.mode == "median-steps"
    assert res.memorisation["exact_share"] == pytest.approx(1.0)  # same five codes as training


def test_identical_sides_score_perfectly() -> None:
    real = make_dataset(students=3)
    res = compare(real, real.model_copy(deep=True), MetricsConfig(embedder="tfidf", cache=False))
    o = res.group("all")
    assert o.knn_distance < 0.2  # 3 nearest include the identical code
    assert o.cosine_distance.mean == pytest.approx(0.0, abs=1e-6)
    assert o.style_score.mae == pytest.approx(0.0)
    assert o.pass_rate_zero.mae == 0.0


def test_floor_sits_on_the_model_rows_slots() -> None:
    real = make_dataset(students=8)
    gen = real.model_copy(deep=True)
    res = compare(real, gen, MetricsConfig(embedder="tfidf", cache=False, floor_repeats=3))
    for g in res.groups:
        fg = res.floor_group(g.group)
        assert fg is not None and fg.repeats == 3
        assert fg.n_cells == g.n_cells  # same cells as the model row
        # other students' codes are never closer than the real codes themselves
        assert fg.knn_distance.mean >= g.knn_distance - 1e-9
