"""Splits: seeded, reproducible, disjoint; lists, fractions and ITAP folds."""

from __future__ import annotations

from pathlib import Path

import pytest

from simstudent.data import load_dataset
from simstudent.data.splits import SplitConfig, SplitManifest, apply_manifest, make_split
from simstudent.schema import Dataset, Problem, Stream, Submission

FIXTURES = Path(__file__).parent / "fixtures" / "data"


@pytest.fixture
def grid() -> Dataset:
    """20 students x 10 problems, every student on every problem (2 attempts each)."""
    streams = [
        Stream(student_id=f"s{i:02d}", problem_id=f"p{j}",
               submissions=[Submission(code=f"{i}-{j}-{a}", order=100 * i + 10 * j + a) for a in range(2)])
        for i in range(20)
        for j in range(10)
    ]
    return Dataset(name="grid", streams=streams, problems={f"p{j}": Problem(id=f"p{j}") for j in range(10)})


def _ids(ds: Dataset) -> set[tuple[str, str]]:
    return {(s.student_id, s.problem_id) for s in ds.streams}


def test_split_is_reproducible_and_seed_dependent(grid):
    cfg = SplitConfig(seed=7, test_student_fraction=0.25, test_problem_fraction=0.3)
    a, b = make_split(grid, cfg), make_split(grid, cfg)
    assert a.manifest == b.manifest and a.train == b.train and a.test_NS_NP == b.test_NS_NP
    other = make_split(grid, cfg.model_copy(update={"seed": 8}))
    assert (other.manifest.test_students, other.manifest.test_problems) != (
        a.manifest.test_students, a.manifest.test_problems)
    assert len(a.manifest.test_students) == 5 and len(a.manifest.test_problems) == 3


def test_split_parts_are_disjoint_and_complete(grid):
    split = make_split(grid, SplitConfig(seed=3, test_student_fraction=0.2, test_problem_fraction=0.2))
    m = split.manifest
    assert not set(m.train_students) & set(m.test_students)
    assert not set(m.train_problems) & set(m.test_problems)
    assert set(m.train_students) | set(m.test_students) == set(grid.students)
    for s in split.train.streams:
        assert s.student_id in m.train_students and s.problem_id in m.train_problems
    for s in split.test_NS_OP.streams:
        assert s.student_id in m.test_students and s.problem_id in m.train_problems
    for s in split.test_NS_NP.streams:
        assert s.student_id in m.test_students and s.problem_id in m.test_problems
    # test problems never reach training; their training-student streams are dropped and counted
    assert not {p for _, p in _ids(split.train)} & set(m.test_problems)
    assert split.dropped_streams == 16 * 2
    assert len(split.train.streams) == 16 * 8 and len(split.test_NS_OP.streams) == 4 * 8
    assert len(split.test_NS_NP.streams) == 4 * 2
    assert set(split.train.problems) == set(m.train_problems)
    assert set(split.test_NS_NP.problems) == set(m.test_problems)
    history = split.test_history()
    assert _ids(history) == _ids(split.test_NS_OP) | _ids(split.test_NS_NP)


def test_explicit_lists_and_manifest_round_trip(grid):
    cfg = SplitConfig(test_students=["s03", "s11"], test_problems=["p9"])
    split = make_split(grid, cfg)
    assert split.manifest.test_students == ["s03", "s11"] and split.manifest.test_problems == ["p9"]
    text = split.manifest.model_dump_json()
    again = apply_manifest(grid, SplitManifest.model_validate_json(text))
    assert again == split
    with pytest.raises(ValueError, match="test students not in the dataset: nobody"):
        make_split(grid, SplitConfig(test_students=["nobody"]))
    with pytest.raises(ValueError, match="either itap_fold or test_students"):
        SplitConfig(itap_fold=0, test_students=["s01"])


def test_zero_problem_fraction_gives_empty_new_problem_set(grid):
    split = make_split(grid, SplitConfig(test_problem_fraction=0.0))
    assert split.test_NS_NP.streams == [] and split.dropped_streams == 0


def test_itap_fold_on_fixture():
    ds = load_dataset(FIXTURES / "progsnap2_tiny")
    split = make_split(ds, SplitConfig(itap_fold=0, test_problems=["pB"]))
    assert split.manifest.test_students == ["S2"]
    assert _ids(split.train) == {("S1", "pA")}
    assert _ids(split.test_NS_OP) == {("S2", "pA")}
    assert _ids(split.test_NS_NP) == {("S2", "pB")}
    assert split.dropped_streams == 1
