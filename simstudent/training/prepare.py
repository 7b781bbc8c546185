"""From a dataset path to training examples and the problems they need.

dataset -> split (train students x train problems) -> exp1/exp2 examples; problems
come from the dataset when it has their instructions, else from the course's specs
under ``simstudent/scenarios/<course>`` (for ITAP: ``simstudent/scenarios/itap``), else a bare problem
with only its id - the prompt then has empty instructions and skeleton, which is
reported in the notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from simstudent.schema import Problem


@dataclass
class PreparedData:
    examples: list
    problems: dict[str, Problem]
    notes: list[str] = field(default_factory=list)
    n_train_streams: int = 0
    dataset_name: str = ""
    split: dict = field(default_factory=dict)  # the split manifest record (see data.splits.manifest_record)


def _has_text(p: Problem) -> bool:
    return bool(p.instructions.strip() or p.skeleton_code.strip())


def resolve_problems(
    needed: set[str], dataset_problems: dict[str, Problem], course: Optional[str], dataset_name: str
) -> tuple[dict[str, Problem], list[str]]:
    """A Problem for every id in ``needed``, and notes on where they came from."""
    from simstudent.problems import load_problems

    notes: list[str] = []
    specs: dict[str, Problem] = {}
    source = course or dataset_name
    if source:
        try:
            specs = load_problems(source)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            if course:  # asked for explicitly: a real error
                raise
            notes.append(f"no problem specs for course {source!r} ({exc})")
    out: dict[str, Problem] = {}
    bare: list[str] = []
    for pid in sorted(needed):
        own = dataset_problems.get(pid)
        if own is not None and _has_text(own):
            out[pid] = own
        elif pid in specs:
            out[pid] = specs[pid]
        else:
            out[pid] = own or Problem(id=pid, title=pid, function_name=pid if pid.isidentifier() else None)
            bare.append(pid)
    if bare:
        notes.append(f"{len(bare)} problem(s) without instructions or skeleton (prompts show only code): "
                     + ", ".join(bare[:10]) + (" ..." if len(bare) > 10 else ""))
    return out, notes


def prepare_examples(
    data: str | Path,
    *,
    exp: Literal["exp1", "exp2", "loop"],
    k: int = 3,
    context: bool = True,
    split_seed: int = 0,
    itap_fold: Optional[int] = None,
    problems_from: Optional[str] = None,
    skip_bad_rows: bool = False,
    test_student_fraction: float = 0.2,
    test_problem_fraction: float = 0.2,
    template: Optional[str] = None,
    loop_settings: Optional[object] = None,
    grader_config: Optional[object] = None,
) -> PreparedData:
    """Training examples of ``data``'s train split, with their problems.

    ``exp="loop"`` grades the train streams for real (grade cache) and renders each
    attempt's closed-loop prompt with ``template`` (see :mod:`simstudent.training.loop_data`).
    An empty train split is an error naming the dataset."""
    from simstudent.data import load_dataset
    from simstudent.data.errors import DataError
    from simstudent.data.examples import build_exp1_examples, build_exp2_examples
    from simstudent.data.splits import SplitConfig, make_split, manifest_record

    dataset = load_dataset(data, skip_bad_rows=skip_bad_rows)
    split = make_split(dataset, SplitConfig(seed=split_seed, itap_fold=itap_fold,
                                            test_student_fraction=test_student_fraction,
                                            test_problem_fraction=test_problem_fraction))
    train = split.train
    if not train.streams:
        raise DataError(f"the train split is empty ({len(dataset.streams)} streams, "
                        f"{len(split.manifest.train_students)} train students, "
                        f"{len(split.manifest.train_problems)} train problems): nothing to train on",
                        file=str(data))
    notes: list[str] = []
    if exp == "loop":
        from simstudent.training.loop_data import build_loop_examples, grade_streams

        problems, notes = resolve_problems({s.problem_id for s in train.streams}, dataset.problems,
                                           problems_from, dataset.name)
        grade_streams(train, problems, grader_config)
        examples: list = build_loop_examples(train, problems, template or "ft-loop", loop_settings)  # type: ignore[arg-type]
    else:
        if exp == "exp1":
            examples = build_exp1_examples(train, context=context)
        else:
            examples = build_exp2_examples(train, k=k, context=context)
        problems, notes = resolve_problems({e.problem_id for e in examples}, dataset.problems,
                                           problems_from, dataset.name)
        if context:
            without = sum(1 for e in examples if e.context_problem_id is None)
            if without:
                notes.append(f"{without} of {len(examples)} examples have no earlier problem: context shown as None")
    notes = list(dataset.provenance.notes) + notes  # the importer's repairs and skipped rows first
    if not examples:
        raise DataError(f"no {exp} training examples in the train split of {dataset.name!r}", file=str(data))
    return PreparedData(examples, problems, notes, len(train.streams), dataset.name, manifest_record(split.manifest))
