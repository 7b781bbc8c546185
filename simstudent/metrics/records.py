"""The typed results of the metrics engine (``simstudent.metrics.engine``): what a
run measured, as ``simstudent metrics --json``, ``simstudent eval`` (``metrics.json``)
and ``simstudent report`` all read and write it.

The report reads only these models (plus ``embeddings.npz`` for the PCA figure), so
a hand-made ``metrics.json`` renders exactly like one written by ``simstudent eval``.

Units: pass rates are fractions in [0, 1] here (the report shows percent); KNN
distance and cosine distance are ``1 - cosine similarity``; coverage is a fraction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from simstudent.errors import InputError, MissingFileError

SCHEMA_VERSION = 2
STAGES = ("first", "middle", "last")
RunKind = Literal["exp1", "exp2", "rollout", "compare"]  # compare: `simstudent metrics REAL GENERATED`


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stat(_M):
    """Mean and sample standard deviation (ddof=1, as pandas) of ``n`` values."""

    mean: Optional[float] = None
    sd: Optional[float] = None
    n: int = 0


class Compare(_M):
    """One measure on generated and on real code, plus the paired MAE between a
    generated code and the real code of the same slot (None where not paired)."""

    gen: Stat = Field(default_factory=Stat)
    real: Stat = Field(default_factory=Stat)
    mae: Optional[float] = None


class CellMetrics(_M):
    """Embedding metrics of one cell: one problem within a group (an exp1 stage or
    ``all``). None = n/a: KNN needs at least k generated codes, coverage more than
    k real codes (k is never shrunk)."""

    problem_id: str
    n_real: int = 0
    n_gen: int = 0
    knn_distance: Optional[float] = None
    coverage: Optional[float] = None
    cosine_distance: Optional[float] = None
    n_pairs: int = 0


class GroupMetrics(_M):
    """Every measure for one group: an exp1 stage, or ``all`` for exp2/rollout.
    ``knn_distance`` and ``coverage`` are means over the cells where they are
    defined (``n_cells_knn``, ``n_cells_coverage`` of ``n_cells``)."""

    group: str
    n_real: int = 0
    n_gen: int = 0
    knn_distance: Optional[float] = None
    coverage: Optional[float] = None
    n_cells: int = 0
    n_cells_knn: int = 0
    n_cells_coverage: int = 0
    cells: list[CellMetrics] = Field(default_factory=list)
    cosine_distance: Stat = Field(default_factory=Stat)
    pass_rate: Compare = Field(default_factory=Compare)  # under the run's pass-rate convention (default: authors)
    pass_rate_zero: Compare = Field(default_factory=Compare)  # errors_as_zero
    pass_rate_excluded: Compare = Field(default_factory=Compare)  # errors_excluded
    pep8: Compare = Field(default_factory=Compare)
    style_score: Compare = Field(default_factory=Compare)
    # {"gen": {"no_error": 0.25, ...}, "real": {...}}: fractions over all four classes
    error_types: dict[str, dict[str, float]] = Field(default_factory=dict)


class FloorGroup(_M):
    """Real-vs-real floor for one group: every generated code of the model rows is
    replaced by the real code of another student on the same problem at the same
    stage (nearest relative position), so the cells and their sizes are exactly the
    model rows'; mean and sd over the seeded repeats."""

    group: str
    repeats: int = 0
    n_cells: int = 0
    n_cells_knn: int = 0
    n_cells_coverage: int = 0
    knn_distance: Stat = Field(default_factory=Stat)
    coverage: Stat = Field(default_factory=Stat)
    cosine_distance: Stat = Field(default_factory=Stat)
    pass_rate: Stat = Field(default_factory=Stat)
    pass_rate_mae: Stat = Field(default_factory=Stat)
    pep8: Stat = Field(default_factory=Stat)
    pep8_mae: Stat = Field(default_factory=Stat)
    style_score: Stat = Field(default_factory=Stat)
    style_mae: Stat = Field(default_factory=Stat)


class Progress(_M):
    """Progress curves: ``series[role][measure]`` is one value per step (None for an
    empty one); roles ``gen`` and ``real``; measures ``pass_rate``, ``style_score``,
    ``edit_distance``. ``mode`` ``median-steps``: ``bins`` are the steps 1..T;
    ``normalised-bins``: bin centres in [0, 1]."""

    mode: str = "normalised-bins"
    bins: list[float] = Field(default_factory=list)
    series: dict[str, dict[str, list[Optional[float]]]] = Field(default_factory=dict)
    counts: dict[str, list[int]] = Field(default_factory=dict)


class Item(_M):
    """One graded code (a real target or a generated attempt) with its measures."""

    id: str
    key: str
    sample: int = 0
    # gen: a generated attempt; real: the real code of a run's slot; floor: a real code
    # of the whole test split, used only for the real-vs-real floor
    role: Literal["gen", "real", "floor"]
    group: str
    stages: list[str] = Field(default_factory=list)  # further groups it belongs to (a 1-attempt stream's only code)
    student_id: str = ""
    problem_id: str = ""
    index: int = 0
    length: Optional[int] = None  # length of the real stream the slot belongs to
    position: Optional[float] = None  # normalised step index/(length-1); None for 1-attempt streams
    error_type: Optional[str] = None
    pass_rate: Optional[float] = None  # under the run's convention (default: authors)
    pass_rate_zero: Optional[float] = None  # errors_as_zero
    pass_rate_excluded: Optional[float] = None  # errors_excluded
    pep8: Optional[float] = None
    # chars, lines, depth, width, nodes (AST ones None when the code does not parse)
    features: Optional[dict[str, Optional[float]]] = None
    style_score: Optional[float] = None
    edit_distance: Optional[float] = None  # to the previous attempt, when there is one
    submitted: Optional[bool] = None
    truncated: Optional[bool] = None  # the generation hit the token limit (finish_reason "length")

    def in_group(self, name: str) -> bool:
        return self.group == name or name in self.stages


class RolloutSummary(_M):
    """Closed-loop measures (``simstudent.metrics.rollout``), mean and sd over the
    rollouts (each rollout weighted equally)."""

    n_streams: int = 0
    prefix: int = 0
    match_threshold: Optional[float] = None
    coverage: Stat = Field(default_factory=Stat)  # share of real later steps matched
    grade_proximity: Stat = Field(default_factory=Stat)
    final_grade_proximity: Stat = Field(default_factory=Stat)
    ast_match: Stat = Field(default_factory=Stat)
    codebleu: Stat = Field(default_factory=Stat)
    attempts_gen: Stat = Field(default_factory=Stat)
    attempts_real: Stat = Field(default_factory=Stat)
    stop_reasons: dict[str, int] = Field(default_factory=dict)
    final_pass_gen: Stat = Field(default_factory=Stat)
    final_pass_real: Stat = Field(default_factory=Stat)
    # Copying (``metrics.memorisation``): attempts that equal or nearly equal the
    # problem's reference solution or any training-split code, generated vs the real
    # students' attempts after the same prefix.
    copies_gen: Optional[dict[str, Any]] = None
    copies_real: Optional[dict[str, Any]] = None


class EditSizes(_M):
    """exp2: edit sizes (characters) from the last real attempt shown to the generated
    and to the real next attempt (``simstudent.metrics.edits``); None = no example had
    a previous attempt."""

    gen: Stat = Field(default_factory=Stat)
    real: Stat = Field(default_factory=Stat)
    mae: Optional[float] = None  # mean |edit(gen) - edit(real)| over generated samples
    wasserstein: Optional[float] = None  # 1-Wasserstein distance between the two distributions
    unchanged_gen: Optional[float] = None  # share of generated attempts equal to the previous one
    unchanged_real: Optional[float] = None


class RunMetrics(_M):
    """Everything one run measured; written to ``metrics.json``."""

    schema_version: int = SCHEMA_VERSION
    kind: RunKind
    label: str
    model: str = ""
    adapter: Optional[str] = None
    template: str = ""
    split: str
    context: bool = False
    k: Optional[int] = None
    samples: int = 1
    embedder: str = ""
    conventions: dict[str, str] = Field(default_factory=dict)  # the named measuring conventions used
    data: str = ""
    command: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    groups: list[GroupMetrics] = Field(default_factory=list)
    progress: Optional[Progress] = None
    floor: list[FloorGroup] = Field(default_factory=list)
    floor_seed: int = 0
    floor_repeats: int = 0
    style_scorer: Optional[dict[str, Any]] = None  # the fitted PCA (per run; the report refits jointly)
    rollout: Optional[RolloutSummary] = None
    edits: Optional[EditSizes] = None  # exp2: edit sizes against the real next attempt
    pairing: Optional[str] = None  # compare: how generated codes met real slots
    memorisation: Optional[dict[str, Any]] = None  # compare --train: exact / near copies of training code
    items: list[Item] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def group(self, name: str) -> Optional[GroupMetrics]:
        return next((g for g in self.groups if g.group == name), None)

    def floor_group(self, name: str) -> Optional[FloorGroup]:
        return next((g for g in self.floor if g.group == name), None)


def load_run_metrics(path: Path | str) -> tuple[RunMetrics, Path]:
    """Load a run's metrics from a run folder, a ``metrics.json`` path or a gzipped
    copy (``*.json.gz``, as committed under docs/results).

    Returns the metrics and the folder they came from (where ``embeddings.npz`` may
    sit). Errors name the file and the field that is wrong.
    """
    p = Path(path)
    file = p / "metrics.json" if p.is_dir() else p
    if not file.exists():
        hint = " (has the run finished? rerun its `simstudent eval` command)" if p.is_dir() else ""
        raise MissingFileError(f"{file}: no metrics.json{hint}")
    try:
        if file.suffix == ".gz":
            import gzip

            text = gzip.decompress(file.read_bytes()).decode("utf-8")
        else:
            text = file.read_text(encoding="utf-8")
        raw: Any = json.loads(text)
    except (ValueError, OSError) as exc:
        raise InputError(f"{file}: not valid JSON ({exc})") from None
    try:
        return RunMetrics.model_validate(raw), file.parent
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"{file}: field {where}: {first['msg']} ({exc.error_count()} error(s))") from None
