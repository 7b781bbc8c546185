"""What an experiment runs on: the dataset with its problem specs, the split, and
the test examples - built the same way by exp1, exp2 and rollout runs.

Logs such as ITAP's carry no problem statements or tests; the specs come from
``scenarios/`` (``--problems COURSE_OR_DIR``, default: look every problem id up
in every course). A test problem without a spec cannot be graded, so it is an
error that names the problem, unless ``skip_missing_problems`` drops its streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from simstudent.schema import Dataset, Example, Problem
from simstudent.errors import ConfigError, MissingFileError

SplitName = Literal["test_NS_OP", "test_NS_NP"]


class DataConfig(BaseModel):
    """Dataset, problem specs and the split (the same fields ``simstudent train`` uses
    to choose its training students, so the two agree)."""

    model_config = ConfigDict(extra="forbid")

    data: str
    split: SplitName = "test_NS_OP"
    split_seed: int = 0
    test_fraction: float = Field(0.2, ge=0.0, le=1.0)  # share of students held out
    problem_fraction: float = Field(0.2, ge=0.0, le=1.0)  # share of problems held out
    itap_fold: Optional[int] = None  # ITAP CV fold: its Test.csv students are the test students
    problems: Optional[str] = None  # course name or folder of specs; None = search scenarios/
    skip_missing_problems: bool = False
    # A seeded random subset of the test streams (every test student keeps a chance to
    # appear, unlike --limit which takes the first examples): small CPU runs.
    max_streams: Optional[int] = Field(None, ge=1)
    skip_bad_rows: bool = Field(False, description="Skip malformed rows of the dataset (counted in its "
                                                   "provenance, the first few named) instead of stopping.")


@dataclass
class Inputs:
    """The loaded pieces of one run."""

    dataset: Dataset
    split: object  # simstudent.data.splits.Split
    test: Dataset  # the chosen test part (after --max-streams)
    test_full: Dataset  # the whole test part (the floor is computed on it)
    history: Dataset  # every stream of the test students (context source)
    problems: dict[str, Problem]
    dropped_problems: list[str]


def load_inputs(cfg: DataConfig) -> Inputs:
    """Load the dataset, attach problem specs, split it, pick the test part."""
    from simstudent.data import load_dataset
    from simstudent.data.splits import SplitConfig, make_split
    from simstudent.problems import attach_problems

    dataset = load_dataset(cfg.data, skip_bad_rows=cfg.skip_bad_rows)
    missing = attach_problems(dataset, cfg.problems)
    problems = {pid: p for pid, p in dataset.problems.items() if pid not in missing}
    split = make_split(
        dataset,
        SplitConfig(
            seed=cfg.split_seed,
            test_student_fraction=cfg.test_fraction,
            test_problem_fraction=cfg.problem_fraction,
            itap_fold=cfg.itap_fold,
            cv_dir=Path(cfg.data) if cfg.itap_fold is not None else None,
        ),
    )
    test: Dataset = getattr(split, cfg.split)
    used_missing = sorted({s.problem_id for s in test.streams} & set(missing))
    if used_missing:
        if not cfg.skip_missing_problems:
            where = cfg.problems or "scenarios/*/"
            raise MissingFileError(
                f"{cfg.data}: no problem spec (tests) for {', '.join(used_missing[:8])} in {where}; "
                "write scenarios/<course>/<id>.toml, pass --problems, or --skip-missing-problems"
            )
        test = test.model_copy(update={"streams": [s for s in test.streams if s.problem_id not in used_missing]})
    test_full = test
    if cfg.max_streams is not None and len(test.streams) > cfg.max_streams:
        test = test.model_copy(update={"streams": subsample_streams(test.streams, cfg.max_streams, cfg.split_seed)})
    return Inputs(dataset, split, test, test_full, split.test_history(), problems, used_missing)


def subsample_streams(streams: list, n: int, seed: int) -> list:
    """``n`` streams chosen at random (seeded), kept in their original order."""
    import random

    keys = sorted(range(len(streams)), key=lambda i: (streams[i].student_id, streams[i].problem_id))
    chosen = set(random.Random(f"{seed}:streams").sample(keys, n))
    return [s for i, s in enumerate(streams) if i in chosen]


def build_examples(inputs: Inputs, exp: str, *, context: bool, k: int = 3, full: bool = False) -> list[Example]:
    """The test examples of one experiment, in a stable order (stream order, then
    stage/index), with context looked up among all the test students' streams.
    ``full``: of the whole test part, ignoring ``max_streams`` (for the floor)."""
    from simstudent.data.examples import build_exp1_examples, build_exp2_examples

    test = inputs.test_full if full else inputs.test
    if exp == "exp1":
        return build_exp1_examples(test, context=context, context_source=inputs.history)
    if exp == "exp2":
        return build_exp2_examples(test, k=k, context=context, context_source=inputs.history)
    raise ConfigError(f"unknown experiment {exp!r}; expected exp1 or exp2")
