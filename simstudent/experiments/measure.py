"""Turn a run folder's generations and grades into ``metrics.json`` + ``embeddings.npz``.

Every example contributes one real item (its target) and ``samples`` generated
items. Per item: the grade (error type, pass rate under both conventions), the
style features and PEP 8 count (``simstudent.metrics.style``), the Levenshtein
distance to the previous attempt (exp2: the real attempt t-1 the model was shown),
and an embedding. Then ``summary.summarize_items`` computes the groups, progress
curves and the real-vs-real floor.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from simstudent.experiments import summary as S
from simstudent.experiments.results import Item, RunMetrics
from simstudent.experiments.runfolder import EMBEDDINGS, GENERATIONS, GRADES, RunFolder
from simstudent.schema import Example, GradeResult
from simstudent.errors import InputError


def _position(index: int, length: int) -> Optional[float]:
    return index / (length - 1) if length > 1 else None


def build_items(
    examples: Sequence[Example],
    generations: Sequence[dict[str, Any]],
    grades: dict[str, GradeResult],
    *,
    group_of: Any,
    previous_of: Any,
    floor_examples: Sequence[Example] = (),
) -> tuple[list[Item], dict[str, str]]:
    """Items (real first, then each example's samples, then the floor's real codes)
    and their codes by item id.

    ``group_of(example)`` names the item's group; ``previous_of(example)`` is the
    code the attempt follows (None when there is none)."""
    from simstudent.metrics.progress import edit_distance

    gens_by_key: dict[str, list[dict[str, Any]]] = {}
    for g in generations:
        gens_by_key.setdefault(g["key"], []).append(g)
    items: list[Item] = []
    codes: dict[str, str] = {}

    def make(iid: str, role: str, e: Example, code: str, sample: int, submitted: Optional[bool]) -> Item:
        grade = grades.get(iid)
        prev = previous_of(e)
        codes[iid] = code
        return Item(
            id=iid, key=e.key, sample=sample, role=role, group=group_of(e),  # type: ignore[arg-type]
            student_id=e.student_id, problem_id=e.problem_id, index=e.target_index, length=e.stream_length,
            position=_position(e.target_index, e.stream_length),
            error_type=grade.error_type if grade else None,
            pass_rate=grade.pass_rate_under("errors_as_zero") if grade else None,
            pass_rate_excluded=grade.pass_rate_under("errors_excluded") if grade else None,
            edit_distance=float(edit_distance(code, prev)) if prev is not None else None,
            submitted=submitted,
        )

    for e in examples:
        items.append(make(f"{e.key}:real", "real", e, e.target, 0, e.is_final))
        for g in sorted(gens_by_key.get(e.key, []), key=lambda g: g["sample"]):
            items.append(make(g["id"], "gen", e, g.get("code") or "", int(g["sample"]), g.get("submitted")))
    for e in floor_examples:
        items.append(make(f"{e.key}:floor", "floor", e, e.target, 0, e.is_final))
    return items, codes


def add_style(items: Sequence[Item], codes: dict[str, str]) -> None:
    """Style features and PEP 8 violations of every item's code."""
    from simstudent.metrics.style import style_features_many

    feats = style_features_many([codes[it.id] for it in items])
    for it, f in zip(items, feats):
        it.pep8 = float(f.pep8)
        it.features = {"chars": f.chars, "lines": f.lines, "depth": f.depth, "width": f.width, "nodes": f.nodes}


def embed_items(items: Sequence[Item], codes: dict[str, str], embedder_name: str,
                show_progress: bool = False) -> dict[str, np.ndarray]:
    """id -> embedding of every item's code (cached by code hash where the embedder allows)."""
    from simstudent.metrics.cache import EmbeddingCache
    from simstudent.metrics.embedders import embed_codes, get_embedder

    embedder = get_embedder(embedder_name)
    cache = EmbeddingCache() if embedder.cacheable else None
    mat = embed_codes(embedder, [codes[it.id] for it in items], cache=cache, show_progress=show_progress)
    return {it.id: mat[i] for i, it in enumerate(items)}


def save_embeddings(folder: RunFolder, emb: dict[str, np.ndarray]) -> None:
    ids = sorted(emb)
    vecs = np.stack([emb[i] for i in ids]).astype(np.float16) if ids else np.zeros((0, 1), np.float16)
    tmp = folder.path / (EMBEDDINGS + ".tmp.npz")
    np.savez_compressed(tmp, ids=np.array(ids), vectors=vecs)
    tmp.replace(folder.path / EMBEDDINGS)


def read_grades(folder: RunFolder) -> dict[str, GradeResult]:
    return {r["id"]: GradeResult.model_validate(r["grade"]) for r in folder.records(GRADES)}


def run_counts(examples: Sequence[Example], generations: Sequence[dict[str, Any]]) -> dict[str, int]:
    keys = {e.key for e in examples}
    gens = [g for g in generations if g["key"] in keys]
    return {
        "examples": len(examples),
        "generations": len(gens),
        "students": len({e.student_id for e in examples}),
        "problems": len({e.problem_id for e in examples}),
        "streams": len({(e.student_id, e.problem_id) for e in examples}),
        "with_context": sum(1 for e in examples if e.context_problem_id),
        "truncated": sum(1 for g in gens if g.get("finish_reason") == "length"),
        "backend_errors": sum(1 for g in gens if g.get("finish_reason") == "error"),
        "empty_code": sum(1 for g in gens if not (g.get("code") or "").strip()),
        "submitted": sum(1 for g in gens if g.get("submitted")),
    }


def finish_metrics(cfg: Any, folder: RunFolder, items: list[Item], codes: dict[str, str], groups: Sequence[str],
                   *, kind: str, counts: dict[str, int], template: str, bins: Optional[int],
                   progress: Any = None, extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Style, embeddings, summary; write metrics.json and embeddings.npz."""
    add_style(items, codes)
    scorer = S.fit_style_scores(items)
    emb = embed_items(items, codes, cfg.embedder, show_progress=progress is not None and progress.enabled)
    save_embeddings(folder, emb)
    out_groups, prog, floor = S.summarize_items(items, emb, groups, bins=bins, floor_seed=cfg.data.split_seed,
                                                floor_repeats=cfg.floor_repeats)
    gen = getattr(cfg, "gen", None)
    metrics = RunMetrics(
        kind=kind, label=cfg.run_label(), model=gen.model if gen else "", adapter=gen.adapter if gen else None,
        template=template, split=cfg.data.split, context=cfg.context, k=cfg.k if kind != "exp1" else None,
        samples=gen.samples if gen else 1, embedder=cfg.embedder, data=cfg.data.data, command=cfg.command,
        counts=counts, groups=out_groups, progress=prog, floor=floor, floor_seed=cfg.data.split_seed,
        floor_repeats=cfg.floor_repeats, style_scorer=scorer, items=items,
        notes=[
            "pass rate: compile and runtime errors count as 0 passed (errors_as_zero); "
            "pass_rate_excluded holds the paper code's convention",
            f"embedder: {cfg.embedder}",
        ],
        **(extra or {}),
    )
    data = metrics.model_dump(mode="json")
    folder.write_metrics(data)
    return data


def measure_run(cfg: Any, folder: RunFolder, examples: Sequence[Example], template: str,
                floor_examples: Sequence[Example] = (), progress: Any = None) -> dict[str, Any]:
    """metrics.json for an exp1/exp2 run folder whose generations and grades are complete."""
    generations = folder.records(GENERATIONS)
    grades = read_grades(folder)
    if cfg.exp == "exp1":
        group_of = lambda e: e.stage  # noqa: E731
        previous_of = lambda e: None  # noqa: E731 - exp1 attempts follow nothing shown
        groups: list[str] = ["first", "middle", "last"]
        bins = None
    else:
        group_of = lambda e: "all"  # noqa: E731
        previous_of = lambda e: e.prior[-1] if e.prior else None  # noqa: E731
        groups = ["all"]
        bins = cfg.bins
    items, codes = build_items(examples, generations, grades, group_of=group_of, previous_of=previous_of,
                               floor_examples=floor_examples)
    missing = [it.id for it in items if it.error_type is None]
    if missing:
        raise InputError(f"{folder.path}: {len(missing)} codes have no grade (e.g. {missing[0]}); rerun to finish")
    counts = run_counts(examples, generations)
    counts["floor_codes"] = len(floor_examples)
    counts["floor_students"] = len({e.student_id for e in floor_examples})
    return finish_metrics(cfg, folder, items, codes, groups, kind=cfg.exp, counts=counts, template=template,
                          bins=bins, progress=progress)
