"""From graded items to a run's metrics: groups (stages), progress curves, floor.

An *item* is one graded code with its measures (``results.Item``): the real target
of an example (role ``real``) or a generated attempt for it (role ``gen``; one per
sample). Every number in ``metrics.json`` is computed here from items and their
embeddings with the formulas of ``simstudent.metrics``, so the report can redo the
parts that must be fitted across runs (the style score) with the same code.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Iterable, Optional, Sequence

import numpy as np

from simstudent.experiments.results import Compare, FloorGroup, GroupMetrics, Item, Progress, Stat
from simstudent.metrics import _stats
from simstudent.metrics.embedding import coverage, knn_distance, paired_cosine_distances
from simstudent.metrics.progress import step_bin
from simstudent.metrics.style import STYLE_SCORE_FEATURES, StyleFeatures, StyleScorer
from simstudent.schema import ERROR_TYPES

DEFAULT_BINS = 10  # as simstudent.metrics.progress
FLOOR_REPEATS = 5


def _f(x: Optional[float]) -> Optional[float]:
    """NaN -> None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def stat(values: Iterable[Optional[float]]) -> Stat:
    """Mean and sample sd (ddof=1, as the metrics module and pandas) of the defined values."""
    s = _stats.summary(list(values))
    return Stat(mean=_f(s["mean"]), sd=_f(s["sd"]), n=int(s["n"]))


def _mae(pairs: Iterable[tuple[Optional[float], Optional[float]]]) -> Optional[float]:
    value, n = _stats.paired_mae(pairs)
    return _f(value) if n else None


def _features(item: Item) -> Optional[StyleFeatures]:
    f = item.features
    if f is None:
        return None
    return StyleFeatures(
        chars=int(f["chars"]), lines=int(f["lines"]),
        depth=None if f.get("depth") is None else int(f["depth"]),
        width=None if f.get("width") is None else int(f["width"]),
        nodes=None if f.get("nodes") is None else int(f["nodes"]),
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
    returns the scorer's parameters, or None when it cannot be fitted."""
    scorer = fit_scorer([it for it in items if it.role in ("gen", "real")])
    if scorer is None:
        return None
    apply_scorer(scorer, items)
    return scorer.to_dict()


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


def _compare(gen: Sequence[Item], real: Sequence[Item], attr: str, real_by_key: dict[str, Item]) -> Compare:
    pairs = [(getattr(g, attr), getattr(real_by_key[g.key], attr)) for g in gen if g.key in real_by_key]
    return Compare(
        gen=stat(getattr(g, attr) for g in gen),
        real=stat(getattr(r, attr) for r in real),
        mae=_mae(pairs),
    )


def group_metrics(group: str, gen: Sequence[Item], real: Sequence[Item], emb: dict[str, np.ndarray]) -> GroupMetrics:
    """Every measure of one group: generated items against the real items (paired by
    example key for MAE and cosine distance)."""
    real_by_key = {r.key: r for r in real}
    g_emb = [g for g in gen if g.id in emb]
    r_emb = [r for r in real if r.id in emb]
    knn = cov = None
    cos = Stat()
    if g_emb and r_emb:
        knn = _f(knn_distance(_matrix(r_emb, emb), _matrix(g_emb, emb), 3)[0])
        cov = _f(coverage(_matrix(r_emb, emb), _matrix(g_emb, emb), 10)[0])
        paired = [(real_by_key[g.key], g) for g in g_emb if g.key in real_by_key and real_by_key[g.key].id in emb]
        if paired:
            d = paired_cosine_distances(_matrix([p[0] for p in paired], emb), _matrix([p[1] for p in paired], emb))
            cos = stat(d.tolist())
    return GroupMetrics(
        group=group,
        n_real=len(real),
        n_gen=len(gen),
        knn_distance=knn,
        coverage=cov,
        cosine_distance=cos,
        pass_rate=_compare(gen, real, "pass_rate", real_by_key),
        pass_rate_excluded=_compare(gen, real, "pass_rate_excluded", real_by_key),
        pep8=_compare(gen, real, "pep8", real_by_key),
        style_score=_compare(gen, real, "style_score", real_by_key),
        error_types={"gen": error_distribution(gen), "real": error_distribution(real)},
    )


def bin_of(item: Item, bins: int) -> Optional[int]:
    """The item's normalised-step bin, by ``simstudent.metrics.progress.step_bin``
    (exact integer arithmetic; None for one-attempt streams)."""
    if item.length is None:
        if item.position is None:
            return None
        return min(bins - 1, max(0, int(item.position * bins)))
    return step_bin(item.index, item.length, bins)


def progress_curves(items: Sequence[Item], bins: int = DEFAULT_BINS) -> Progress:
    """Mean pass rate, style score and edit distance per normalised-step bin, for
    generated and real items (B equal bins of t/(n-1); bin centres reported)."""
    measures = ("pass_rate", "style_score", "edit_distance")
    series: dict[str, dict[str, list[Optional[float]]]] = {}
    counts: dict[str, list[int]] = {}
    for role in ("gen", "real"):
        buckets: dict[int, list[Item]] = defaultdict(list)
        for it in items:
            b = bin_of(it, bins)
            if it.role == role and b is not None:
                buckets[b].append(it)
        series[role] = {
            m: [_f(_stats.mean(getattr(it, m) for it in buckets.get(b, []))) for b in range(bins)] for m in measures
        }
        counts[role] = [len(buckets.get(b, [])) for b in range(bins)]
    return Progress(bins=[(b + 0.5) / bins for b in range(bins)], series=series, counts=counts)


# -- the real-vs-real floor -------------------------------------------------------

def _nearest_partner(target: Item, pool: Sequence[Item], rng: random.Random) -> Optional[Item]:
    """An item of another student on the same problem, at the closest relative
    position; ties broken at random (seeded)."""
    cands = [p for p in pool if p.problem_id == target.problem_id and p.student_id != target.student_id]
    if not cands:
        return None
    pos = target.position if target.position is not None else 0.0
    best = min(abs((c.position if c.position is not None else 0.0) - pos) for c in cands)
    tied = [c for c in cands if abs((c.position if c.position is not None else 0.0) - pos) == best]
    return rng.choice(tied)


def floor_metrics(
    real: Sequence[Item],
    emb: dict[str, np.ndarray],
    groups: Sequence[str],
    *,
    seed: int = 0,
    repeats: int = FLOOR_REPEATS,
) -> list[FloorGroup]:
    """Real-vs-real floor: what a perfect simulator of *other* students would score.

    The real students are split at random into halves A and B. Every item of B is a
    slot to fill; the "generated" code for it is the code of an A student on the same
    problem, in the same group, at the nearest relative position (ties at random).
    Then every measure is computed exactly as for a model: KNN distance and coverage
    of the partners against the B codes, paired cosine distance and MAE, and mean
    (sd) of the partners. B items whose problem no A student attempted are left out.
    Repeated with seeds ``seed, seed+1, ...``; mean and sd over the repeats (the
    mean (sd) columns average the per-repeat mean and sd).
    """
    students = sorted({r.student_id for r in real})
    out: list[FloorGroup] = []
    if len(students) < 2:
        return out
    per_group: dict[str, dict[str, list[float]]] = {g: defaultdict(list) for g in groups}
    for rep in range(repeats):
        rng = random.Random(seed + rep)
        order = students[:]
        rng.shuffle(order)
        half_a = set(order[: len(order) // 2])
        for g in groups:
            items = [r for r in real if r.group == g]
            a = [r for r in items if r.student_id in half_a]
            b = [r for r in items if r.student_id not in half_a]
            pairs = [(t, _nearest_partner(t, a, rng)) for t in b]
            pairs = [(t, p) for t, p in pairs if p is not None]
            if not pairs:
                continue
            acc = per_group[g]
            targets = [t for t, _ in pairs]
            partners = [p for _, p in pairs]
            e_pairs = [(t, p) for t, p in pairs if t.id in emb and p.id in emb]
            if e_pairs:
                rt = _matrix([t for t, _ in e_pairs], emb)
                gp = _matrix([p for _, p in e_pairs], emb)
                acc["knn_distance"].append(knn_distance(rt, gp, 3)[0])
                acc["coverage"].append(coverage(rt, gp, 10)[0])
                acc["cosine_distance"].append(float(paired_cosine_distances(rt, gp).mean()))
            for attr in ("pass_rate", "pep8", "style_score"):
                acc[attr].append(_stats.mean(getattr(x, attr) for x in partners))
                acc[attr + "_sd"].append(_stats.sd(getattr(x, attr) for x in partners))
                mae = _mae((getattr(t, attr), getattr(p, attr)) for t, p in zip(targets, partners))
                if mae is not None:
                    acc[attr + "_mae"].append(mae)
            acc["_repeats"].append(1.0)

    def over(acc: dict[str, list[float]], name: str) -> Stat:
        return stat(acc.get(name, []))

    def halfstat(acc: dict[str, list[float]], name: str) -> Stat:
        m = _f(_stats.mean(acc.get(name, [])))
        s = _f(_stats.mean(acc.get(name + "_sd", [])))
        return Stat(mean=m, sd=s, n=len(acc.get(name, [])))

    for g in groups:
        acc = per_group[g]
        if not acc.get("_repeats"):
            continue
        out.append(FloorGroup(
            group=g,
            repeats=len(acc["_repeats"]),
            knn_distance=over(acc, "knn_distance"),
            coverage=over(acc, "coverage"),
            cosine_distance=over(acc, "cosine_distance"),
            pass_rate=halfstat(acc, "pass_rate"),
            pass_rate_mae=over(acc, "pass_rate_mae"),
            pep8=halfstat(acc, "pep8"),
            pep8_mae=over(acc, "pep8_mae"),
            style_score=halfstat(acc, "style_score"),
            style_mae=over(acc, "style_score_mae"),
        ))
    return out


def floor_items(items: Sequence[Item]) -> list[Item]:
    """The real codes the floor is computed on: the ``floor`` items (the whole test
    split) when the run has them, else the run's own ``real`` items."""
    extra = [it for it in items if it.role == "floor"]
    return extra or [it for it in items if it.role == "real"]


def summarize_items(
    items: Sequence[Item],
    emb: dict[str, np.ndarray],
    groups: Sequence[str],
    *,
    bins: Optional[int] = DEFAULT_BINS,
    floor_seed: int = 0,
    floor_repeats: int = FLOOR_REPEATS,
) -> tuple[list[GroupMetrics], Optional[Progress], list[FloorGroup]]:
    """Group metrics, progress curves (when ``bins``) and the floor, from items
    whose style scores are already set (see :func:`fit_style_scores`)."""
    out_groups = []
    for g in groups:
        gen = [it for it in items if it.group == g and it.role == "gen"]
        real = [it for it in items if it.group == g and it.role == "real"]
        if gen or real:
            out_groups.append(group_metrics(g, gen, real, emb))
    prog = progress_curves(items, bins) if bins else None
    floor = floor_metrics(floor_items(items), emb, groups, seed=floor_seed, repeats=floor_repeats)
    return out_groups, prog, floor


__all__ = [
    "STYLE_SCORE_FEATURES",
    "error_distribution",
    "apply_scorer",
    "fit_scorer",
    "fit_style_scores",
    "floor_items",
    "floor_metrics",
    "group_metrics",
    "progress_curves",
    "stat",
    "summarize_items",
]
