"""Put runs of one table on one style-score scale before reporting.

The style score is a principal component fitted on "real and generated code
together". Each run fits it on its own codes, so two runs' scores (and their
Student rows) are on slightly different axes. Like the paper, the report refits it
once per (experiment, test set) on the real codes plus every run's generated codes,
then recomputes every style-score number of those runs (group means, MAE, progress
curve, floor) from the items with the same functions the runs used.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

from simstudent.metrics import engine as E
from simstudent.experiments.report.figures import load_embeddings
from simstudent.metrics.records import Item, RunMetrics


def _refit_group(runs: list[tuple[RunMetrics, Optional[Path]]], warnings: list[str]) -> None:
    real_by_key: dict[str, Item] = {}
    gen: list[Item] = []
    for r, _ in runs:
        for it in r.items:
            if it.role == "real":
                real_by_key.setdefault(it.key, it)
            elif it.role == "gen":
                gen.append(it)
    scorer = E.fit_scorer(list(real_by_key.values()) + gen)
    if scorer is None:
        warnings.append(f"{runs[0][0].kind} {runs[0][0].split}: too few parseable codes to fit a joint style score")
        return
    for r, folder in runs:
        E.apply_scorer(scorer, r.items)
        real_by = {it.key: it for it in r.items if it.role == "real"}
        for g in r.groups:
            gen_items = [it for it in r.items if it.group == g.group and it.role == "gen"]
            real_items = [it for it in r.items if it.group == g.group and it.role == "real"]
            g.style_score = E.compare_attr(gen_items, real_items, "style_score", real_by)
        if r.progress is not None and r.progress.bins:
            fresh = E.progress_curves(r.items, r.progress.mode, len(r.progress.bins))
            for role, series in fresh.series.items():
                r.progress.series.setdefault(role, {})["style_score"] = series["style_score"]
        if r.floor:
            emb = load_embeddings(folder)
            fresh_floor = E.floor_metrics(r.items, emb, [f.group for f in r.floor], seed=r.floor_seed,
                                          repeats=r.floor_repeats or E.FLOOR_REPEATS)
            by_group = {f.group: f for f in fresh_floor}
            for f in r.floor:
                if f.group in by_group:
                    f.style_score = by_group[f.group].style_score
                    f.style_mae = by_group[f.group].style_mae
        r.style_scorer = scorer.to_dict()
        r.notes.append("style score refitted jointly with the other runs of this table by `simstudent report`")


def harmonize_style(
    loaded: Sequence[tuple[RunMetrics, Optional[Path]]], warnings: list[str]
) -> list[tuple[RunMetrics, Optional[Path]]]:
    """Refit the style score per (kind, split) over all runs whose items carry style
    features; runs without items (hand-made summaries) are left as they are."""
    groups: dict[tuple[str, str], list[tuple[RunMetrics, Optional[Path]]]] = defaultdict(list)
    for r, d in loaded:
        if r.kind in ("exp1", "exp2") and r.items and all(it.features is not None for it in r.items):
            groups[(r.kind, r.split)].append((r, d))
    for key, runs in groups.items():
        if len(runs) > 1:
            _refit_group(runs, warnings)
    return list(loaded)
