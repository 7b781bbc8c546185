"""The metrics engine: from measured items to typed results (``records``).

An *item* (``records.Item``) is one code with its measures: the real code of a slot
(role ``real``), a generated code for that slot (``gen``; one per sample) or a real
code that only feeds the real-vs-real floor (``floor``). ``simstudent metrics``,
``simstudent eval`` and ``simstudent report`` all go through ``measure_items``, so
the same streams give the same numbers whichever command computed them.

Grouping follows the paper: KNN distance, coverage and paired cosine distance are
computed per cell - one problem within one group (an exp1 stage, or ``all``) - and
then averaged over the cells where they are defined; codes of other problems are
never neighbours. The floor replaces each generated code by another real student's
code for the same problem and stage, so its cells and their sizes are exactly the
model rows' (see ``floor_metrics``).
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from typing import Iterable, Optional, Sequence

import numpy as np

from simstudent.errors import ConfigError
from simstudent.metrics import _stats
from simstudent.metrics.conventions import Conventions, pass_rate
from simstudent.metrics.embedding import coverage, knn_distance, paired_cosine_distances
from simstudent.metrics.records import CellMetrics, Compare, FloorGroup, GroupMetrics, Item, Progress, Stat
from simstudent.metrics.style import StyleFeatures, StyleScorer
from simstudent.schema import ERROR_TYPES, GradeResult

KNN_K = 3
COVERAGE_K = 10
DEFAULT_BINS = 10
FLOOR_REPEATS = 5


def _f(x: Optional[float]) -> Optional[float]:
    """NaN -> None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def stat(values: Iterable[Optional[float]]) -> Stat:
    """Mean and sample sd (ddof=1, as pandas) of the defined values."""
    s = _stats.summary(list(values))
    return Stat(mean=_f(s["mean"]), sd=_f(s["sd"]), n=int(s["n"]))


# -- per-item measures ------------------------------------------------------------

def set_grade(item: Item, grade: Optional[GradeResult], conventions: Conventions) -> None:
    """The item's error type and its pass rate under every convention (``pass_rate``
    under the configured one)."""
    item.error_type = grade.error_type if grade else None
    item.pass_rate = pass_rate(grade, conventions.pass_rate)
    item.pass_rate_zero = pass_rate(grade, "errors_as_zero")
    item.pass_rate_excluded = pass_rate(grade, "errors_excluded")


def set_style(items: Sequence[Item], codes: dict[str, str], conventions: Conventions,
              processes: Optional[int] = None) -> None:
    """Style features and PEP 8 count of every item's code."""
    from simstudent.metrics.style import style_features_many

    feats = style_features_many([codes[it.id] for it in items], processes, pep8_mode=conventions.pep8,
                                size_mode=conventions.size)
    for it, f in zip(items, feats):
        it.pep8 = float(f.pep8)
        it.features = {"chars": f.chars, "lines": f.lines, "depth": f.depth, "width": f.width, "nodes": f.nodes}


def set_edit_distances(items: Sequence[Item], codes: dict[str, str]) -> None:
    """Levenshtein distance from each item to the previous attempt of the same stream
    and sample in the same role (generated to generated, real to real); 0 for a
    stream's first attempt; None when the previous attempt is not among the items."""
    from simstudent.metrics.progress import edit_distance

    by_slot = {(it.role, it.student_id, it.problem_id, it.sample, it.index): it for it in items}
    for it in items:
        if it.index == 0:
            it.edit_distance = 0.0
            continue
        prev = by_slot.get((it.role, it.student_id, it.problem_id, it.sample, it.index - 1))
        it.edit_distance = float(edit_distance(codes[it.id], codes[prev.id])) if prev is not None else None


# -- style score ------------------------------------------------------------------

def _features(item: Item) -> Optional[StyleFeatures]:
    f = item.features
    if f is None:
        return None
    return StyleFeatures(
        chars=int(f["chars"]), lines=int(f["lines"]),  # type: ignore[arg-type]
        depth=None if f.get("depth") is None else int(f["depth"]),  # type: ignore[arg-type]
        width=None if f.get("width") is None else int(f["width"]),  # type: ignore[arg-type]
        nodes=None if f.get("nodes") is None else int(f["nodes"]),  # type: ignore[arg-type]
        pep8=int(item.pep8 or 0),
    )


def fit_scorer(items: Sequence[Item]) -> Optional[StyleScorer]:
    """The style score fitted on the given items (the paper: real and generated code
    together); None when fewer than two of them parse."""
    usable = [f for f in (_features(it) for it in items) if f is not None]
    try:
        return StyleScorer.fit(usable)
    except ValueError:
        return None


def apply_scorer(scorer: StyleScorer, items: Sequence[Item]) -> None:
    """Write each item's ``style_score`` (None where its code does not parse)."""
    for it in items:
        f = _features(it)
        it.style_score = None if f is None else scorer.score(f)


def fit_style_scores(items: Sequence[Item]) -> Optional[dict]:
    """Fit on the ``gen`` and ``real`` items, score every item (``floor`` ones too);
    the scorer's parameters, or None when it cannot be fitted."""
    scorer = fit_scorer([it for it in items if it.role in ("gen", "real")])
    if scorer is None:
        return None
    apply_scorer(scorer, items)
    return scorer.to_dict()


# -- groups and cells -------------------------------------------------------------

def _matrix(items: Sequence[Item], emb: dict[str, np.ndarray]) -> np.ndarray:
    vecs = [emb[it.id] for it in items if it.id in emb]
    if not vecs:
        return np.zeros((0, 1))
    return np.stack(vecs).astype(np.float64)


def error_distribution(items: Sequence[Item]) -> dict[str, float]:
    """Share of each of the four error types (items without a grade left out)."""
    graded = [it.error_type for it in items if it.error_type]
    if not graded:
        return {}
    return {e: graded.count(e) / len(graded) for e in ERROR_TYPES}


def compare_attr(gen: Sequence[Item], real: Sequence[Item], attr: str, real_by_key: dict[str, Item]) -> Compare:
    """Mean (sd) of ``attr`` on both sides and the MAE over slots (gen vs the real
    code of its slot)."""
    pairs = [(getattr(g, attr), getattr(real_by_key[g.key], attr)) for g in gen if g.key in real_by_key]
    value, n = _stats.paired_mae(pairs)
    return Compare(gen=stat(getattr(g, attr) for g in gen), real=stat(getattr(r, attr) for r in real),
                   mae=_f(value) if n else None)


def cell_metrics(problem_id: str, gen: Sequence[Item], real: Sequence[Item], emb: dict[str, np.ndarray],
                 knn_k: int = KNN_K, coverage_k: int = COVERAGE_K) -> CellMetrics:
    """Embedding metrics of one cell (n/a - None - where the cell is too small)."""
    g_emb = [g for g in gen if g.id in emb]
    r_emb = [r for r in real if r.id in emb]
    out = CellMetrics(problem_id=problem_id, n_real=len(real), n_gen=len(gen))
    if not g_emb or not r_emb:
        return out
    rm, gm = _matrix(r_emb, emb), _matrix(g_emb, emb)
    out.knn_distance = _f(knn_distance(rm, gm, knn_k))
    out.coverage = _f(coverage(rm, gm, coverage_k))
    real_by_key = {r.key: r for r in r_emb}
    paired = [(real_by_key[g.key], g) for g in g_emb if g.key in real_by_key]
    if paired:
        d = paired_cosine_distances(_matrix([p[0] for p in paired], emb), _matrix([p[1] for p in paired], emb))
        out.cosine_distance = float(d.mean())
        out.n_pairs = len(paired)
    return out


def group_metrics(group: str, gen: Sequence[Item], real: Sequence[Item], emb: dict[str, np.ndarray]) -> GroupMetrics:
    """Every measure of one group: embedding metrics per problem cell, averaged over
    the cells; functional and style measures over all of the group's codes, paired
    by slot key for MAE."""
    real_by_key = {r.key: r for r in real}
    problems = sorted({it.problem_id for it in (*gen, *real)})
    cells = [cell_metrics(p, [g for g in gen if g.problem_id == p], [r for r in real if r.problem_id == p], emb)
             for p in problems]
    knn = [c.knn_distance for c in cells if c.knn_distance is not None]
    cov = [c.coverage for c in cells if c.coverage is not None]
    cos_pairs = [(real_by_key[g.key], g) for g in gen if g.key in real_by_key and g.id in emb
                 and real_by_key[g.key].id in emb]
    cos = Stat()
    if cos_pairs:
        d = paired_cosine_distances(_matrix([p[0] for p in cos_pairs], emb), _matrix([p[1] for p in cos_pairs], emb))
        cos = stat(d.tolist())
    return GroupMetrics(
        group=group, n_real=len(real), n_gen=len(gen),
        knn_distance=_f(_stats.mean(knn)) if knn else None, coverage=_f(_stats.mean(cov)) if cov else None,
        n_cells=len(cells), n_cells_knn=len(knn), n_cells_coverage=len(cov), cells=cells,
        cosine_distance=cos,
        pass_rate=compare_attr(gen, real, "pass_rate", real_by_key),
        pass_rate_zero=compare_attr(gen, real, "pass_rate_zero", real_by_key),
        pass_rate_excluded=compare_attr(gen, real, "pass_rate_excluded", real_by_key),
        pep8=compare_attr(gen, real, "pep8", real_by_key),
        style_score=compare_attr(gen, real, "style_score", real_by_key),
        error_types={"gen": error_distribution(gen), "real": error_distribution(real)},
    )


# -- progress ---------------------------------------------------------------------

def median_steps(items: Sequence[Item]) -> dict[str, int]:
    """Per problem, T = the median length of its real streams rounded half to even
    (as ``round``/``numpy.round``), at least 1."""
    lengths: dict[str, dict[str, int]] = defaultdict(dict)
    for it in items:
        if it.role == "real" and it.length:
            lengths[it.problem_id][it.student_id] = it.length
    return {p: max(1, round(statistics.median(v.values()))) for p, v in lengths.items()}


def step_of(index: int, length: int, steps: int) -> int:
    """Step 1..T of attempt ``index`` (0-based) in a stream of ``length``:
    1 + round(index (T-1) / (length-1)), halves rounded up; 1 for one-attempt streams."""
    if length <= 1 or steps <= 1:
        return 1
    return 1 + (2 * index * (steps - 1) + (length - 1)) // (2 * (length - 1))


def _position_bin(item: Item, bins: int) -> Optional[int]:
    from simstudent.metrics.progress import step_bin

    if item.length is None:
        return None if item.position is None else min(bins - 1, max(0, int(item.position * bins)))
    return step_bin(item.index, item.length, bins)


def progress_curves(items: Sequence[Item], mode: str = "median-steps", bins: int = DEFAULT_BINS) -> Progress:
    """Mean pass rate, style score and edit distance per step, for generated and
    real items (``mode``: see ``Conventions.progress``)."""
    measures = ("pass_rate", "style_score", "edit_distance")
    if mode == "median-steps":
        t_of = median_steps(items)
        n_steps = max(t_of.values(), default=1)

        def place(it: Item) -> Optional[int]:
            t = t_of.get(it.problem_id)
            return None if t is None or it.length is None else step_of(it.index, it.length, t) - 1
        xs = [float(s + 1) for s in range(n_steps)]
    elif mode == "normalised-bins":
        n_steps = bins

        def place(it: Item) -> Optional[int]:
            return _position_bin(it, bins)
        xs = [(b + 0.5) / bins for b in range(bins)]
    else:
        raise ConfigError(f"unknown progress mode {mode!r}; use median-steps or normalised-bins")
    series: dict[str, dict[str, list[Optional[float]]]] = {}
    counts: dict[str, list[int]] = {}
    for role in ("gen", "real"):
        buckets: dict[int, list[Item]] = defaultdict(list)
        for it in items:
            if it.role == role and (b := place(it)) is not None:
                buckets[b].append(it)
        series[role] = {m: [_f(_stats.mean(getattr(it, m) for it in buckets.get(b, []))) for b in range(n_steps)]
                        for m in measures}
        counts[role] = [len(buckets.get(b, [])) for b in range(n_steps)]
    return Progress(mode=mode, bins=xs, series=series, counts=counts)


# -- the real-vs-real floor -------------------------------------------------------

def _rel(it: Item) -> float:
    return it.position if it.position is not None else 0.0


def floor_partners(gen: Sequence[Item], real_by_key: dict[str, Item], pool: Sequence[Item], group: str,
                   rng: random.Random) -> list[Item]:
    """For each generated item, a real code of another student on the same problem in
    the same group, at the nearest relative position (ties at random), standing in
    for it under the generated item's slot key; items with no candidate are dropped."""
    by_problem: dict[str, list[Item]] = defaultdict(list)
    for p in pool:
        if p.in_group(group):
            by_problem[p.problem_id].append(p)
    out = []
    for g in gen:
        target = real_by_key.get(g.key)
        student = target.student_id if target is not None else g.student_id
        pos = _rel(target if target is not None else g)
        cands = [p for p in by_problem.get(g.problem_id, []) if p.student_id != student]
        if not cands:
            continue
        best = min(abs(_rel(c) - pos) for c in cands)
        pick = rng.choice([c for c in cands if abs(_rel(c) - pos) == best])
        out.append(pick.model_copy(update={"key": g.key, "role": "gen", "sample": g.sample}))
    return out


def floor_metrics(items: Sequence[Item], emb: dict[str, np.ndarray], groups: Sequence[str], *,
                  seed: int = 0, repeats: int = FLOOR_REPEATS) -> list[FloorGroup]:
    """Real-vs-real floor beside the model rows of ``items``: what a perfect simulator
    of *other* students would score on exactly these slots.

    Every generated item is replaced by a partner (``floor_partners``) drawn from the
    ``floor`` and ``real`` items; then every measure is computed as for the model, on
    the same real items and the same cells. Repeat r draws with
    ``random.Random(f"{seed}:floor:{r}")``; each figure is the mean and sd over the
    repeats (the mean (sd) columns average the per-repeat mean and sd).
    """
    pool = [it for it in items if it.role in ("floor", "real")]
    if not pool:
        return []
    out = []
    for g in groups:
        gen = [it for it in items if it.role == "gen" and it.in_group(g)]
        real = [it for it in items if it.role == "real" and it.in_group(g)]
        if not gen or not real:
            continue
        real_by_key = {r.key: r for r in real}
        reps: list[GroupMetrics] = []
        for r in range(repeats):
            rng = random.Random(f"{seed}:floor:{r}")
            partners = floor_partners(gen, real_by_key, pool, g, rng)
            if partners:
                reps.append(group_metrics(g, partners, real, emb))
        if not reps:
            continue

        def over(get) -> Stat:  # noqa: ANN001 - a small accessor
            return stat(get(m) for m in reps)

        def half(name: str) -> Stat:
            c = [getattr(m, name).gen for m in reps]
            return Stat(mean=_f(_stats.mean(s.mean for s in c)), sd=_f(_stats.mean(s.sd for s in c)),
                        n=len([s for s in c if s.mean is not None]))

        out.append(FloorGroup(
            group=g, repeats=len(reps),
            n_cells=reps[0].n_cells, n_cells_knn=round(_stats.mean(m.n_cells_knn for m in reps)),
            n_cells_coverage=round(_stats.mean(m.n_cells_coverage for m in reps)),
            knn_distance=over(lambda m: m.knn_distance), coverage=over(lambda m: m.coverage),
            cosine_distance=over(lambda m: m.cosine_distance.mean),
            pass_rate=half("pass_rate"), pass_rate_mae=over(lambda m: m.pass_rate.mae),
            pep8=half("pep8"), pep8_mae=over(lambda m: m.pep8.mae),
            style_score=half("style_score"), style_mae=over(lambda m: m.style_score.mae),
        ))
    return out


# -- everything -------------------------------------------------------------------

def measure_items(items: Sequence[Item], emb: dict[str, np.ndarray], groups: Sequence[str], *,
                  progress_mode: Optional[str] = "median-steps", bins: int = DEFAULT_BINS, floor_seed: int = 0,
                  floor_repeats: int = FLOOR_REPEATS) -> tuple[list[GroupMetrics], Optional[Progress], list[FloorGroup]]:
    """Group metrics, progress curves (None when ``progress_mode`` is None) and the
    floor, from items whose measures and style scores are set."""
    out_groups = []
    for g in groups:
        gen = [it for it in items if it.in_group(g) and it.role == "gen"]
        real = [it for it in items if it.in_group(g) and it.role == "real"]
        if gen or real:
            out_groups.append(group_metrics(g, gen, real, emb))
    prog = progress_curves(items, progress_mode, bins) if progress_mode else None
    floor = floor_metrics(items, emb, groups, seed=floor_seed, repeats=floor_repeats) if floor_repeats else []
    return out_groups, prog, floor
