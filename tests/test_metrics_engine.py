"""Cross-checks of the metrics engine against the paper's definitions, on small
fixtures with values worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simstudent.metrics import engine as E
from simstudent.metrics.conventions import Conventions, pass_rate, top_level_crash
from simstudent.metrics.records import Item
from simstudent.schema import GradeResult, TestOutcome


def _grade(error_type: str, outcomes: list[tuple[bool, str | None]], message: str | None = None) -> GradeResult:
    tests = [TestOutcome(name=f"t{i}", passed=p, exception=e) for i, (p, e) in enumerate(outcomes)]
    return GradeResult(error_type=error_type, passed=sum(p for p, _ in outcomes), total=len(tests), tests=tests,
                       error_message=message)  # type: ignore[arg-type]


def test_pass_rate_conventions_by_hand() -> None:
    # 4 tests: 2 pass, 1 raises ZeroDivisionError, 1 fails -> runtime, but every test ran.
    per_test = _grade("runtime", [(True, None), (True, None), (False, "ZeroDivisionError"), (False, None)])
    assert not top_level_crash(per_test)
    assert pass_rate(per_test, "authors") == 0.5  # 2 / 4: keeps its pass rate
    assert pass_rate(per_test, "errors_as_zero") == 0.5
    assert pass_rate(per_test, "errors_excluded") is None  # the stricter earlier convention
    # Top-level NameError: no test ran -> undefined for the authors, 0 when errors count as 0.
    crash = _grade("runtime", [(False, "not run: the top-level code raised")] * 3, "NameError: x")
    assert top_level_crash(crash)
    assert pass_rate(crash, "authors") is None and pass_rate(crash, "errors_as_zero") == 0.0
    # Compile error: undefined for the authors.
    compiled = _grade("compile", [(False, "not run: the code does not compile")] * 2, "SyntaxError")
    assert pass_rate(compiled, "authors") is None
    # Logical: 1 of 3.
    logical = _grade("logical", [(True, None), (False, None), (False, None)])
    assert pass_rate(logical, "authors") == pytest.approx(1 / 3)
    assert pass_rate(None, "authors") is None


def test_progress_steps_by_hand() -> None:
    # Real stream lengths on problem p: 2, 4, 5 -> median 4 -> T = 4.
    items = [Item(id=f"{s}{i}", key=f"{s}{i}", role="real", group="all", student_id=s, problem_id="p",
                  index=i, length=n) for s, n in (("a", 2), ("b", 4), ("c", 5)) for i in range(n)]
    assert E.median_steps(items) == {"p": 4}
    # Lengths 2 and 3 -> median 2.5 -> rounded half to even -> 2.
    assert E.median_steps(items[:2] + [it.model_copy(update={"length": 3, "student_id": "z"}) for it in items[:1]]) \
        == {"p": 2}
    # step = 1 + round(t (T-1) / (n-1)), halves up. n = 5, T = 4: t = 0..4 -> 0, .75, 1.5, 2.25, 3 -> 1, 2, 3, 3, 4
    assert [E.step_of(t, 5, 4) for t in range(5)] == [1, 2, 3, 3, 4]
    # n = 2, T = 4: t = 0, 1 -> 1, 4.   One-attempt stream: step 1 (kept).
    assert [E.step_of(t, 2, 4) for t in range(2)] == [1, 4]
    assert E.step_of(0, 1, 4) == 1


def test_progress_curve_keeps_one_attempt_streams_and_edits_are_consecutive() -> None:
    codes = {"a0": "x", "a1": "xy", "a2": "xyz", "b0": "q", "g0": "x", "g1": "abc", "g2": "abd"}
    items = [Item(id=i, key=i[1:], role="real", group="all", student_id=i[0], problem_id="p", index=int(i[1]),
                  length=3 if i[0] == "a" else 1, pass_rate=int(i[1]) / 2 if i[0] == "a" else 1.0)
             for i in ("a0", "a1", "a2", "b0")]
    items += [Item(id=f"g{t}", key=str(t), role="gen", group="all", student_id="a", problem_id="p", index=t, length=3)
              for t in range(3)]
    E.set_edit_distances(items, codes)
    by = {it.id: it.edit_distance for it in items}
    # real: 0 at the first attempt, then x->xy = 1, xy->xyz = 1; b's only attempt 0.
    assert (by["a0"], by["a1"], by["a2"], by["b0"]) == (0.0, 1.0, 1.0, 0.0)
    # generated to generated: x->abc = 3 (1 substitution + 2 insertions), abc->abd = 1.
    assert (by["g0"], by["g1"], by["g2"]) == (0.0, 3.0, 1.0)
    prog = E.progress_curves(items, "median-steps")
    # lengths 3 and 1 -> median 2 -> T = 2: a0 -> step 1, a1 -> 1 + round(0.5) = 2, a2 -> 2; b0 -> step 1.
    assert prog.bins == [1.0, 2.0]
    assert prog.counts["real"] == [2, 2]
    # step 1 pass rate: a0 = 0 and b0 = 1 -> 0.5; step 2: a1 = 0.5, a2 = 1 -> 0.75
    assert prog.series["real"]["pass_rate"] == [0.5, 0.75]
    assert prog.series["gen"]["edit_distance"] == [0.0, 2.0]  # step 2: (3 + 1) / 2


def _cell_items(problem: str, vectors: list[list[float]], role: str, prefix: str) -> tuple[list[Item], dict]:
    items = [Item(id=f"{prefix}{i}", key=f"{problem}:{i}", role=role, group="all", student_id=f"s{i}",
                  problem_id=problem, index=0, length=1) for i in range(len(vectors))]
    return items, {it.id: np.array(v) for it, v in zip(items, vectors)}


def test_real_codes_as_generator_cover_each_cell_and_wrong_problem_is_far() -> None:
    # Problem A: 12 real codes on the unit circle around (1, 0); problem B: 12 around (0, 1).
    ang = [0.02 * i for i in range(12)]
    a_vecs = [[math.cos(t), math.sin(t)] for t in ang]
    b_vecs = [[-math.sin(t), math.cos(t)] for t in ang]
    real_a, emb_a = _cell_items("A", a_vecs, "real", "ra")
    real_b, emb_b = _cell_items("B", b_vecs, "real", "rb")
    copy_a, emb_ca = _cell_items("A", a_vecs, "gen", "ga")
    copy_b, emb_cb = _cell_items("B", b_vecs, "gen", "gb")
    emb = {**emb_a, **emb_b, **emb_ca, **emb_cb}
    g = E.group_metrics("all", copy_a + copy_b, real_a + real_b, emb)
    # 12 > 10 real codes per cell: coverage defined, and each real code is its own nearest -> 1.0.
    assert g.n_cells == 2 and g.n_cells_coverage == 2 and g.coverage == pytest.approx(1.0)
    # KNN within a cell of copies = mean over reals of (0 + d(1 step) + d(1 step)) / 3 for the
    # inner codes; it equals the cell's own within-set 3-NN value (self included):
    within = np.mean([np.mean(np.sort([1 - math.cos(s - t) for s in ang])[:3]) for t in ang])
    assert g.knn_distance == pytest.approx(within, abs=1e-9)
    assert g.cosine_distance.mean == pytest.approx(0.0, abs=1e-9)
    # Generator on the wrong problem: B's codes offered for A's slots and vice versa.
    wrong_a = [it.model_copy(update={"problem_id": "A", "key": f"A:{i}", "id": f"wa{i}"}) for i, it in enumerate(copy_b)]
    wrong_b = [it.model_copy(update={"problem_id": "B", "key": f"B:{i}", "id": f"wb{i}"}) for i, it in enumerate(copy_a)]
    emb.update({f"wa{i}": emb_cb[f"gb{i}"] for i in range(12)})
    emb.update({f"wb{i}": emb_ca[f"ga{i}"] for i in range(12)})
    w = E.group_metrics("all", wrong_a + wrong_b, real_a + real_b, emb)
    # About 90 degrees away: d = 1 - cos(~pi/2) ~ 1, against ~0.0004 for the copies.
    assert w.knn_distance > 0.7 and w.knn_distance > 100 * g.knn_distance


def test_small_cells_are_na_never_shrunk() -> None:
    real, emb_r = _cell_items("A", [[1, 0], [0, 1], [1, 1]], "real", "r")
    gen, emb_g = _cell_items("A", [[1, 0], [0, 1]], "gen", "g")
    g = E.group_metrics("all", gen, real, {**emb_r, **emb_g})
    # 2 generated codes < k = 3: KNN n/a; 3 real codes <= 10: coverage n/a.
    assert g.knn_distance is None and g.coverage is None
    assert (g.n_cells, g.n_cells_knn, g.n_cells_coverage) == (1, 0, 0)
    assert g.cells[0].n_real == 3 and g.cells[0].n_gen == 2


def test_floor_uses_other_students_on_the_same_slots_by_hand() -> None:
    # One problem, stage "last". Real slots of students A and B; the pool also has C.
    # PEP 8: A 0, B 2, C 4. A's partner is B or C (nearest position: both at 1.0), B's is A or C.
    def it(s: str, role: str, pep: float) -> Item:
        return Item(id=f"{s}:{role}", key=f"k{s}", role=role, group="last", student_id=s, problem_id="p",
                    index=1, length=2, position=1.0, pep8=pep, pass_rate=1.0, style_score=0.0)
    items = [it("A", "real", 0), it("B", "real", 2), it("A", "gen", 9), it("B", "gen", 9), it("C", "floor", 4)]
    emb = {x.id: np.array([1.0, 0.0]) for x in items}
    (fg,) = E.floor_metrics(items, emb, ["last"], seed=0, repeats=8)
    assert fg.repeats == 8 and fg.n_cells == 1
    # Possible per-repeat MAEs: A<-B |0-2| = 2 or A<-C 4; B<-A 2 or B<-C 2 -> MAE in {2, 3}.
    assert 2.0 <= fg.pep8_mae.mean <= 3.0
    # The model's own generated PEP 8 (9) never enters the floor.
    assert fg.pep8.mean <= 4.0
    assert fg.cosine_distance.mean == pytest.approx(0.0)


def test_conventions_defaults_are_the_authors() -> None:
    c = Conventions()
    assert (c.pass_rate, c.pep8, c.size, c.progress) == ("authors", "authors", "stripped", "median-steps")
