"""Tables shaped like the seed paper's Tab. 1-3 (plus a closed-loop table), built
from runs' metrics.

Each table is split by test set (``test_NS_OP``, ``test_NS_NP``) as the paper's (a)
and (b) panels, and carries a ``Student`` row where the paper has one and a
``real-vs-real floor`` row: the same measure between two random halves of the real
test students, which is as close as a perfect simulator of *other* students could
get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from simstudent.metrics.records import STAGES, Compare, RunMetrics, Stat

FLOOR_LABEL = "real-vs-real floor"
FLOOR_NOTE = (
    "Floor: every generated code of the model rows is replaced by the real code of "
    "another test student on the same problem at the same stage (nearest relative "
    "position), so the floor has exactly the model rows' slots, cells and cell sizes "
    "(mean ± sd over the seeded repeats). A cell whose problem no other test student "
    "attempted has no floor value, so the floor may average over fewer cells."
)
CELL_NOTE = (
    "KNN distance and coverage are computed per problem cell and averaged over the "
    "cells where they are defined (cells used / cells shown). n/a†: KNN needs at least "
    "3 generated codes in a cell; coverage needs more than 10 real codes (with 10 or "
    "fewer it is 100% whatever was generated)."
)
TRUNC_NOTE = "Trunc.: share of generations that hit the token limit (their code is cut off)."
SPLIT_ORDER = ("test_NS_OP", "test_NS_NP")


@dataclass
class Table:
    """A rendered-agnostic table: header, rows of cell strings, provenance."""

    id: str  # "tab1", "tab2", "tab3", "tabR"
    split: str
    title: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    commands: list[str] = field(default_factory=list)
    row_kinds: list[str] = field(default_factory=list)  # "model" | "student" | "floor"


# -- formatting -------------------------------------------------------------------

def _num(x: Optional[float], digits: int = 3, scale: float = 1.0) -> str:
    return "-" if x is None else f"{x * scale:.{digits}f}"


def _pct(x: Optional[float], digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def _mean_sd(s: Stat, digits: int = 2, scale: float = 1.0) -> str:
    if s.mean is None:
        return "-"
    sd = "-" if s.sd is None else f"{s.sd * scale:.{digits}f}"
    return f"{s.mean * scale:.{digits}f} ({sd})"


def _pm(s: Stat, digits: int = 3, scale: float = 1.0, pct: bool = False) -> str:
    """Floor cells: mean ± sd over the repeats."""
    if s.mean is None:
        return "-"
    unit = "%" if pct else ""
    sd = "" if s.sd is None else f" ± {s.sd * scale:.{digits}f}{unit}"
    return f"{s.mean * scale:.{digits}f}{unit}{sd}"


def _cells(x: Optional[float], used: int, total: int, pct: bool = False) -> str:
    """A cell-averaged value with the cells it averages; n/a† when no cell qualifies."""
    if x is None:
        return "n/a†"
    return f"{_pct(x) if pct else _num(x)} ({used}/{total})"


def _floor_cells(s: Stat, used: int = 0, total: int = 0, pct: bool = False) -> str:
    """A floor figure (mean ± sd over repeats), with its cells when known."""
    if s.mean is None:
        return "n/a†"
    text = _pm(s, 1, 100, pct=True) if pct else _pm(s)
    return f"{text} ({used}/{total})" if total else text


def _trunc(run: RunMetrics) -> str:
    n = run.counts.get("generations") or run.counts.get("generated_attempts")
    t = run.counts.get("truncated")
    return "-" if not n or t is None else _pct(t / n, 0)


def _copies(c: Optional[dict]) -> str:
    """Share of copied attempts with its count, e.g. ``12% (3/25)``."""
    if not c or not c.get("n_generated"):
        return "-"
    return f"{_pct(c['copy_share'], 0)} ({c['exact'] + c['near']}/{c['n_generated']})"


def _ctx(run: RunMetrics) -> str:
    return "T" if run.context else "F"


def run_sort_key(run: RunMetrics) -> tuple:
    return (run.k or 0, run.context, run.label)


def splits_of(runs: Sequence[RunMetrics]) -> list[str]:
    seen = {r.split for r in runs}
    return [s for s in SPLIT_ORDER if s in seen] + sorted(seen - set(SPLIT_ORDER))


def _commands(runs: Sequence[RunMetrics], report_command: str) -> list[str]:
    cmds = [r.command for r in runs if r.command]
    # Keep order, drop duplicates.
    out = list(dict.fromkeys(cmds))
    if report_command:
        out.append(report_command)
    return out


def _floor_source(runs: Sequence[RunMetrics], group: str):
    """The floor of the first run that has one for ``group`` (the floor depends only
    on the real test data, so every run of one split carries the same one)."""
    for r in runs:
        fg = r.floor_group(group)
        if fg is not None and fg.repeats:
            return fg
    return None


def _student_stats(runs: Sequence[RunMetrics], group: str, attr: str) -> Optional[Compare]:
    for r in runs:
        g = r.group(group)
        if g is not None and getattr(g, attr).real.mean is not None:
            return getattr(g, attr)
    return None


# -- Tab. 1 -----------------------------------------------------------------------

def table1(runs: Sequence[RunMetrics], split: str, report_command: str = "") -> Table:
    """Exp1: average KNN distance and KNN coverage by model x stage x context."""
    mine = sorted((r for r in runs if r.kind == "exp1" and r.split == split), key=run_sort_key)
    rows: list[list[str]] = []
    kinds: list[str] = []
    for stage in STAGES:
        for r in sorted(mine, key=lambda r: (r.context, r.label)):
            g = r.group(stage)
            if g is None:
                continue
            rows.append([r.label, stage, _ctx(r), _cells(g.knn_distance, g.n_cells_knn, g.n_cells),
                         _cells(g.coverage, g.n_cells_coverage, g.n_cells, pct=True), _trunc(r)])
            kinds.append("model")
        fg = _floor_source(mine, stage)
        if fg is not None:
            rows.append([FLOOR_LABEL, stage, "-", _floor_cells(fg.knn_distance, fg.n_cells_knn, fg.n_cells),
                         _floor_cells(fg.coverage, fg.n_cells_coverage, fg.n_cells, pct=True), "-"])
            kinds.append("floor")
    return Table(
        id="tab1",
        split=split,
        title=f"Tab. 1 - Experiment 1: embedding distance and coverage ({split})",
        caption=(
            "Average distance from each real code to its 3 nearest generated codes "
            "(d = 1 - cosine similarity; lower is better) and the share of real codes "
            "among the 10 nearest real neighbours of some generated code (higher is "
            "better), per stage and context (T = the student's own attempt at the same "
            "stage on an earlier problem is in the prompt). " + CELL_NOTE + " " + TRUNC_NOTE + " " + FLOOR_NOTE
        ),
        columns=["Model", "Stage", "Context", "Avg. KNN Dist. ↓ (cells)", "KNN Cov. ↑ (cells)", "Trunc."],
        rows=rows,
        commands=_commands(mine, report_command),
        row_kinds=kinds,
    )


# -- Tab. 2 -----------------------------------------------------------------------

def table2(runs: Sequence[RunMetrics], split: str, report_command: str = "") -> Table:
    """Exp1 at the last stage: PEP 8 violations and style score, mean (sd) and MAE."""
    mine = sorted((r for r in runs if r.kind == "exp1" and r.split == split), key=lambda r: (r.context, r.label))
    rows: list[list[str]] = []
    kinds: list[str] = []
    for r in mine:
        g = r.group("last")
        if g is None:
            continue
        rows.append([
            r.label, "last", _ctx(r),
            _mean_sd(g.pep8.gen), _num(g.pep8.mae, 2),
            _mean_sd(g.style_score.gen), _num(g.style_score.mae, 2),
        ])
        kinds.append("model")
    pep8 = _student_stats(mine, "last", "pep8")
    style = _student_stats(mine, "last", "style_score")
    if pep8 is not None or style is not None:
        rows.append([
            "Student", "last", "-",
            _mean_sd(pep8.real) if pep8 else "-", "-",
            _mean_sd(style.real) if style else "-", "-",
        ])
        kinds.append("student")
    fg = _floor_source(mine, "last")
    if fg is not None:
        rows.append([
            FLOOR_LABEL, "last", "-",
            _mean_sd(fg.pep8), _pm(fg.pep8_mae, 2),
            _mean_sd(fg.style_score), _pm(fg.style_mae, 2),
        ])
        kinds.append("floor")
    return Table(
        id="tab2",
        split=split,
        title=f"Tab. 2 - Experiment 1: PEP 8 violations and style score at the last stage ({split})",
        caption=(
            "Mean (sd) over generated codes, and MAE between each generated code and the "
            "real code of the same slot. Style score: first principal component of "
            "standardised [lines, characters, AST depth, AST width, AST nodes], fitted on "
            "the real and all generated codes of this test set together (more verbose "
            "code scores higher). " + FLOOR_NOTE
        ),
        columns=["Model", "Bin", "Context", "PEP 8 Mean (Sd)", "PEP 8 MAE", "Style Mean (Sd)", "Style MAE"],
        rows=rows,
        commands=_commands(mine, report_command),
        row_kinds=kinds,
    )


# -- Tab. 3 -----------------------------------------------------------------------

def table3(runs: Sequence[RunMetrics], split: str, report_command: str = "") -> Table:
    """Exp2: pass rate, PEP 8, style score (mean (sd), MAE) and cosine distance."""
    mine = sorted((r for r in runs if r.kind == "exp2" and r.split == split), key=run_sort_key)
    rows: list[list[str]] = []
    kinds: list[str] = []
    for r in mine:
        g = r.group("all")
        if g is None:
            continue
        rows.append([
            r.label, str(r.k if r.k is not None else "-"), _ctx(r),
            _mean_sd(g.pass_rate.gen, 1, 100), _num(g.pass_rate.mae, 1, 100),
            _mean_sd(g.pep8.gen), _num(g.pep8.mae, 2),
            _mean_sd(g.style_score.gen), _num(g.style_score.mae, 2),
            _num(g.cosine_distance.mean), *_edit_cells(r), _trunc(r),
        ])
        kinds.append("model")
    pr = _student_stats(mine, "all", "pass_rate")
    pep8 = _student_stats(mine, "all", "pep8")
    style = _student_stats(mine, "all", "style_score")
    if pr or pep8 or style:
        rows.append([
            "Student", "-", "-",
            _mean_sd(pr.real, 1, 100) if pr else "-", "-",
            _mean_sd(pep8.real) if pep8 else "-", "-",
            _mean_sd(style.real) if style else "-", "-", "-", *_student_edit_cells(mine), "-",
        ])
        kinds.append("student")
    fg = _floor_source(mine, "all")
    if fg is not None:
        rows.append([
            FLOOR_LABEL, "-", "-",
            _mean_sd(fg.pass_rate, 1, 100), _pm(fg.pass_rate_mae, 1, 100),
            _mean_sd(fg.pep8), _pm(fg.pep8_mae, 2),
            _mean_sd(fg.style_score), _pm(fg.style_mae, 2),
            _pm(fg.cosine_distance), "-", "-", "-", "-", "-",
        ])
        kinds.append("floor")
    return Table(
        id="tab3",
        split=split,
        title=f"Tab. 3 - Experiment 2: next-attempt pass rate, style and embedding distance ({split})",
        caption=(
            "Teacher-forced next attempt from the k previous real attempts. Pass rate in "
            "percent, undefined (left out) only for code that does not compile or crashes "
            "before any test runs; a test that raises or times out counts as failed; mean (sd) over "
            "generated attempts and MAE against the real attempt of the same slot; cosine "
            "distance between each generated attempt and the real one (lower is better). Edits: "
            "Levenshtein distance in characters from the last real attempt shown to the generated "
            "(Student: the real) next attempt, mean (sd); Edit MAE: mean |generated edit - real edit| "
            "of the same slot; Edit W1: 1-Wasserstein distance between the generated and the real "
            "edit-size distributions (copying the previous attempt scores the mean real edit); "
            "Unch.: share of next attempts identical to the previous one; the floor has none of "
            "these (another student's code is no edit of this student's). " + TRUNC_NOTE + " "
            + FLOOR_NOTE
        ),
        columns=[
            "Model", "k", "Context", "Pass Rate % Mean (Sd)", "Pass MAE",
            "PEP 8 Mean (Sd)", "PEP 8 MAE", "Style Mean (Sd)", "Style MAE", "Cosine Dist. ↓",
            "Edit Mean (Sd)", "Edit MAE ↓", "Edit W1 ↓", "Unch.", "Trunc.",
        ],
        rows=rows,
        commands=_commands(mine, report_command),
        row_kinds=kinds,
    )


def _edit_cells(r: RunMetrics) -> list[str]:
    """Edit mean (sd), MAE, W1 and unchanged share of a model row (exp2)."""
    e = r.edits
    if e is None or e.mae is None:
        return ["-"] * 4
    return [_mean_sd(e.gen, 1), _num(e.mae, 1), _num(e.wasserstein, 1), _pct(e.unchanged_gen, 0)]


def _student_edit_cells(runs: Sequence[RunMetrics]) -> list[str]:
    """The real students' edit mean (sd) and unchanged share (the same in every run of
    a split: the real next attempts); MAE and W1 do not apply."""
    e = next((r.edits for r in runs if r.edits is not None and r.edits.mae is not None), None)
    if e is None:
        return ["-"] * 4
    return [_mean_sd(e.real, 1), "-", "-", _pct(e.unchanged_real, 0)]


# -- closed loop ------------------------------------------------------------------

def table_rollout(runs: Sequence[RunMetrics], split: str, report_command: str = "") -> Table:
    """Closed-loop rollouts (from scratch or a real prefix): step coverage, grade proximity,
    code similarity, plus the distribution metrics of the generated attempts."""
    mine = sorted((r for r in runs if r.kind == "rollout" and r.split == split), key=run_sort_key)
    rows: list[list[str]] = []
    for r in mine:
        ro = r.rollout
        g = r.group("all")
        fg = r.floor_group("all")
        if ro is None:
            continue
        rows.append([
            r.label, str(ro.prefix), _ctx(r), str(ro.n_streams),
            _mean_sd(ro.coverage, 3), _mean_sd(ro.grade_proximity, 3),
            _mean_sd(ro.ast_match, 3), _mean_sd(ro.codebleu, 3),
            _mean_sd(ro.attempts_gen, 1), _mean_sd(ro.attempts_real, 1),
            _mean_sd(ro.final_pass_gen, 2), _mean_sd(ro.final_pass_real, 2),
            _copies(ro.copies_gen), _copies(ro.copies_real),
            _cells(g.knn_distance, g.n_cells_knn, g.n_cells) if g else "-",
            _floor_cells(fg.knn_distance, fg.n_cells_knn, fg.n_cells) if fg else "-",
            _cells(g.coverage, g.n_cells_coverage, g.n_cells, pct=True) if g else "-",
        ])
    return Table(
        id="tabR",
        split=split,
        title=f"Closed loop - rollouts of the simulated student ({split})",
        caption=(
            "The first Prefix attempts of each real stream (none: from scratch, as "
            "`simstudent run`) are given to the SimulatedStudent as its own; it continues "
            "with the grader's feedback until it submits, passes, stalls or hits the "
            "attempt limit. Attempts: generated attempts vs the real student's after the "
            "prefix. Step coverage: share of the real later attempts matched "
            "by some generated attempt (Levenshtein ratio of normalised code >= the match "
            "threshold); grade proximity: 1 - |pass-rate difference| between the j-th real "
            "and the j-th generated attempt; AST match: share of aligned attempts with the "
            "same names-normalised AST; CodeBLEU-like: n-gram/AST overlap of aligned "
            "attempts. Last two columns: KNN distance and coverage of all generated "
            "attempts against the real continuations, per problem cell, beside the "
            "real-vs-real floor of the same run's slots. Final pass: pass rate of the last "
            "attempt, generated vs the real student's. Copies: share of attempts equal or "
            "nearly equal (normalised edit similarity >= 0.95) to a reference solution or "
            "a training-split code, generated vs the real students' own. " + CELL_NOTE
        ),
        columns=[
            "Model", "Prefix", "Context", "Streams", "Step Coverage", "Grade Proximity",
            "AST Match", "CodeBLEU-like", "Attempts (gen)", "Attempts (real)", "Final Pass (gen)",
            "Final Pass (real)", "Copies (gen)", "Copies (real)", "KNN Dist. ↓", "KNN Floor", "KNN Cov. ↑",
        ],
        rows=rows,
        commands=_commands(mine, report_command),
        row_kinds=["model"] * len(rows),
    )


def build_tables(runs: Sequence[RunMetrics], report_command: str = "") -> list[Table]:
    """Every table the runs support, Tab. 1-3 then closed loop, each per split."""
    tables: list[Table] = []
    for builder, kind in ((table1, "exp1"), (table2, "exp1"), (table3, "exp2"), (table_rollout, "rollout")):
        for split in splits_of([r for r in runs if r.kind == kind]):
            t = builder(runs, split, report_command)
            if t.rows:
                tables.append(t)
    return tables
