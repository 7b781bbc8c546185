"""Train / test_NS_OP / test_NS_NP splits, as the seed paper defines them.

Students are split into train and test students, problems into train and test
problems. Then:

- ``train``      = train students x train problems;
- ``test_NS_OP`` = test students x train problems (new students, old problems);
- ``test_NS_NP`` = test students x test problems (new students, new problems);
- train students' streams on test problems are dropped, so no test problem is
  ever seen in training (their count is in ``Split.dropped_streams``).

Choices are seeded (``random.Random(seed)`` over sorted id lists) and so
reproducible; explicit lists override fractions; ``itap_fold=N`` takes the test
students from ITAP's ``CV/FoldN/Test.csv``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simstudent.data._csv import read_csv
from simstudent.data.errors import BadRows, DataError
from simstudent.schema import Dataset, Stream
from simstudent.errors import ConfigError, InputError


class SplitConfig(BaseModel):
    """How to split. Lists win over fractions; ``itap_fold`` wins over both for students."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    test_student_fraction: float = Field(0.2, ge=0.0, le=1.0)
    test_students: Optional[list[str]] = None
    test_problem_fraction: float = Field(0.2, ge=0.0, le=1.0)
    test_problems: Optional[list[str]] = None
    itap_fold: Optional[int] = Field(None, ge=0)
    # Folder holding CV/FoldN (default: the dataset's provenance.source).
    cv_dir: Optional[Path] = None

    @model_validator(mode="after")
    def _one_student_rule(self) -> "SplitConfig":
        if self.itap_fold is not None and self.test_students is not None:
            raise ConfigError("give either itap_fold or test_students, not both")
        return self


class SplitManifest(BaseModel):
    """The ids a split chose: enough to rebuild it with :func:`apply_manifest`."""

    config: SplitConfig
    dataset: str
    train_students: list[str]
    test_students: list[str]
    train_problems: list[str]
    test_problems: list[str]
    dropped_streams: int = 0


class Split(BaseModel):
    """The three datasets plus the manifest that produced them."""

    train: Dataset
    test_NS_OP: Dataset
    test_NS_NP: Dataset
    manifest: SplitManifest

    @property
    def dropped_streams(self) -> int:
        return self.manifest.dropped_streams

    def test_history(self) -> Dataset:
        """Every stream of the test students (OP + NP): the ``context_source`` for
        test examples, so context may come from any of their earlier problems."""
        return _subset(
            self.test_NS_OP,
            "test_history",
            self.test_NS_OP.streams + self.test_NS_NP.streams,
            {**self.test_NS_OP.problems, **self.test_NS_NP.problems},
        )

    def summary(self) -> dict[str, int]:
        """Students / problems / streams / submissions per part (for printing)."""
        out: dict[str, int] = {
            "train_students": len(self.manifest.train_students),
            "test_students": len(self.manifest.test_students),
            "train_problems": len(self.manifest.train_problems),
            "test_problems": len(self.manifest.test_problems),
            "dropped_streams": self.manifest.dropped_streams,
        }
        for part in ("train", "test_NS_OP", "test_NS_NP"):
            ds: Dataset = getattr(self, part)
            out[f"{part}_streams"] = len(ds.streams)
            out[f"{part}_submissions"] = ds.n_submissions
        return out


def _pick(ids: list[str], fraction: float, rng: random.Random) -> list[str]:
    if fraction <= 0 or not ids:
        return []
    n = max(1, round(fraction * len(ids)))
    return sorted(rng.sample(ids, min(n, len(ids))))


def _check_known(kind: str, chosen: list[str], known: list[str]) -> None:
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise InputError(f"test {kind} not in the dataset: {', '.join(unknown[:10])}")


def fold_test_students(cv_root: Path, fold: int) -> list[str]:
    """SubjectIDs in ITAP's ``CV/Fold<fold>/Test.csv`` under ``cv_root``."""
    path = Path(cv_root) / "CV" / f"Fold{fold}" / "Test.csv"
    _, rows = read_csv(path, ("SubjectID",), BadRows(skip=False))
    return sorted({r.values["SubjectID"].strip() for r in rows if r.values["SubjectID"].strip()})


def _subset(base: Dataset, part: str, streams: list[Stream], problems: dict) -> Dataset:
    prov = base.provenance.model_copy(deep=True)
    prov.notes.append(f"split part: {part}")
    return Dataset(name=f"{base.name}:{part}", streams=streams, problems=problems, provenance=prov)


def make_split(dataset: Dataset, config: Optional[SplitConfig] = None) -> Split:
    """Split ``dataset`` by students and problems (see the module docstring)."""
    config = config or SplitConfig()
    students = dataset.students
    problems = dataset.problem_ids
    # Separate generators so changing the problem rule never reshuffles students.
    student_rng = random.Random(f"{config.seed}:students")
    problem_rng = random.Random(f"{config.seed}:problems")

    if config.itap_fold is not None:
        root = config.cv_dir or Path(dataset.provenance.source or ".")
        test_students = [s for s in fold_test_students(root, config.itap_fold) if s in set(students)]
        if not test_students:
            raise DataError(f"no student of fold {config.itap_fold} has a stream in {dataset.name!r}", file=root)
    elif config.test_students is not None:
        _check_known("students", config.test_students, students)
        test_students = sorted(set(config.test_students))
    else:
        test_students = _pick(students, config.test_student_fraction, student_rng)

    if config.test_problems is not None:
        _check_known("problems", config.test_problems, problems)
        test_problems = sorted(set(config.test_problems))
    else:
        test_problems = _pick(problems, config.test_problem_fraction, problem_rng)

    manifest = SplitManifest(
        config=config,
        dataset=dataset.name,
        train_students=sorted(set(students) - set(test_students)),
        test_students=test_students,
        train_problems=sorted(set(problems) - set(test_problems)),
        test_problems=test_problems,
    )
    return apply_manifest(dataset, manifest)


def apply_manifest(dataset: Dataset, manifest: SplitManifest) -> Split:
    """Rebuild a split from its recorded id lists (e.g. read back from JSON)."""
    test_s, test_p = set(manifest.test_students), set(manifest.test_problems)
    parts: dict[str, list[Stream]] = {"train": [], "test_NS_OP": [], "test_NS_NP": []}
    dropped = 0
    for stream in dataset.streams:
        new_student = stream.student_id in test_s
        new_problem = stream.problem_id in test_p
        if new_student:
            parts["test_NS_NP" if new_problem else "test_NS_OP"].append(stream)
        elif new_problem:
            dropped += 1  # a training student on a held-out problem: never used
        else:
            parts["train"].append(stream)
    manifest = manifest.model_copy(update={"dropped_streams": dropped})
    train_probs = {p: q for p, q in dataset.problems.items() if p not in test_p}
    test_probs = {p: q for p, q in dataset.problems.items() if p in test_p}
    return Split(
        train=_subset(dataset, "train", parts["train"], train_probs),
        test_NS_OP=_subset(dataset, "test_NS_OP", parts["test_NS_OP"], dict(train_probs)),
        test_NS_NP=_subset(dataset, "test_NS_NP", parts["test_NS_NP"], test_probs),
        manifest=manifest,
    )


def _ids_hash(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def manifest_record(manifest: SplitManifest) -> dict:
    """What an adapter's ``simstudent.json`` keeps about its training split: the
    settings that rebuild it, the train id lists and a sha256 of each (sorted, one id
    per line) so a changed split is detected even when the lists are edited."""
    cfg = manifest.config
    return {
        "dataset": manifest.dataset,
        "seed": cfg.seed,
        "test_student_fraction": cfg.test_student_fraction,
        "test_problem_fraction": cfg.test_problem_fraction,
        "itap_fold": cfg.itap_fold,
        "train_students": list(manifest.train_students),
        "train_problems": list(manifest.train_problems),
        "train_students_sha256": _ids_hash(manifest.train_students),
        "train_problems_sha256": _ids_hash(manifest.train_problems),
    }


def split_overlap(record: dict, evaluated: SplitManifest) -> list[str]:
    """Why an adapter trained on ``record``'s split must not be evaluated on
    ``evaluated``'s test parts: its training students among the test students, its
    training problems among the new (NS_NP) problems. Empty when the two are disjoint."""
    problems: list[str] = []
    for key in ("train_students", "train_problems"):
        ids = record.get(key)
        if ids is not None and record.get(f"{key}_sha256") not in (None, _ids_hash(ids)):
            problems.append(f"split manifest: {key} does not match its sha256 (edited?)")
    students = sorted(set(record.get("train_students") or []) & set(evaluated.test_students))
    new_problems = sorted(set(record.get("train_problems") or []) & set(evaluated.test_problems))
    if students:
        problems.append(f"{len(students)} test student(s) were training students of the adapter: "
                        + ", ".join(students[:8]) + (" ..." if len(students) > 8 else ""))
    if new_problems:
        problems.append(f"{len(new_problems)} NS_NP test problem(s) were training problems of the adapter: "
                        + ", ".join(new_problems[:8]) + (" ..." if len(new_problems) > 8 else ""))
    return problems
