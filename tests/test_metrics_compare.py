"""Pairing, the full comparison, the real-vs-real floor, and the ITAP integration runs."""

from __future__ import annotations

import math

import pytest

from simstudent.metrics.compare import MetricsConfig, compare, flatten, get_path
from simstudent.metrics.floor import aggregate, real_floor, split_students
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
    assert res["pairing"] == "matched" and res["embedder"] == "tfidf"
    groups = res["groups"]
    assert {"overall", "stage:first", "stage:middle", "stage:last", "problem:p0", "problem:p1"} <= set(groups)
    emb = groups["overall"]["embedding"]
    assert emb["embedder"] == "tfidf" and 0 <= emb["coverage"] <= 1 and emb["knn_distance"] >= 0
    shares = groups["overall"]["functional"]["generated"]["error_types"]["shares"]
    assert set(shares) == {"no_error", "logical", "runtime", "compile"} and sum(shares.values()) == pytest.approx(1)
    assert groups["overall"]["style"]["n_unparsed_real"] > 0  # CODES[4] does not parse
    assert len(res["progress"]["real"]) == 10
    assert res["memorisation"]["exact_share"] == pytest.approx(1.0)  # same five codes as training
    assert get_path(res, "groups.overall.embedding.coverage") == emb["coverage"]


def test_identical_sides_score_perfectly() -> None:
    real = make_dataset(students=3)
    res = compare(real, real.model_copy(deep=True), MetricsConfig(embedder="tfidf", cache=False))
    assert res["pairing"] == "slot" or res["pairing"] == "stream"
    o = res["groups"]["overall"]
    assert o["embedding"]["knn_distance"] < 0.2  # 3 nearest include the identical code
    assert o["embedding"]["paired_cosine_distance"] == pytest.approx(0.0, abs=1e-6)
    assert o["style"]["style_score"]["mae"] == pytest.approx(0.0)
    assert o["functional"]["pass_rate_mae"]["errors_as_zero"]["mae"] == 0.0


def test_split_and_aggregate() -> None:
    ds = make_dataset(students=7)
    a, b = split_students(ds, seed=3)
    assert len(a.students) == 3 and len(b.students) == 4 and not set(a.students) & set(b.students)
    assert split_students(ds, seed=3)[0].students == a.students
    agg = aggregate([{"x": {"y": 1.0}}, {"x": {"y": 3.0}}, {"x": {"y": float("nan")}}])
    assert agg["x.y"] == {"mean": 2.0, "sd": pytest.approx(math.sqrt(2)), "n": 2}
    assert flatten({"a": [1, {"b": True, "c": 2.5}], "d": "s"}) == {"a.0": 1.0, "a.1.c": 2.5}


def test_floor_on_synthetic_data() -> None:
    fl = real_floor(make_dataset(students=8), MetricsConfig(embedder="tfidf", cache=False), repeats=3)
    assert fl["seeds"] == [0, 1, 2] and fl["embedder"] == "tfidf"
    cov = fl["aggregate"]["groups.overall.embedding.coverage"]
    assert cov["n"] == 3 and 0 <= cov["mean"] <= 1
    assert "memorisation.exact_share" in fl["aggregate"]


def test_floor_needs_two_students() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        real_floor(make_dataset(students=1), MetricsConfig(embedder=None))


@pytest.mark.slow
def test_itap_subset_floor_with_minilm(itap_dir, tmp_path, monkeypatch) -> None:
    from simstudent.data import load_dataset

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # cold cache: really embeds, offline
    ds = load_dataset(itap_dir)
    keep = set(ds.students[:6])
    sub = Dataset(name="itap-6", streams=[s for s in ds.streams if s.student_id in keep])
    fl = real_floor(sub, MetricsConfig(embedder="minilm", by_problem=False), repeats=2)
    assert fl["embedder"] == "minilm"
    assert 0 < fl["aggregate"]["groups.overall.embedding.knn_distance"]["mean"] < 1
    assert (tmp_path / "simstudent" / "embeddings.sqlite").exists()
