"""Turn a run folder's generations and grades into ``metrics.json`` + ``embeddings.npz``.

Every example contributes one real item (its target) and ``samples`` generated
items; the whole test split's targets join as ``floor`` items. Everything measured
about them - grades under the named conventions, style, edit distances, embeddings,
groups, cells, progress and the floor - is computed by ``simstudent.metrics.engine``;
this module only gathers the run folder's records.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from simstudent.experiments.runfolder import EMBEDDINGS, GENERATIONS, GRADES, GenerationRecord, GradeRecord, RunFolder
from simstudent.metrics import engine as E
from simstudent.metrics.conventions import Conventions
from simstudent.metrics.records import Item, RunMetrics
from simstudent.schema import Example, GradeResult
from simstudent.errors import ConfigError, InputError


def _position(index: int, length: int) -> Optional[float]:
    return index / (length - 1) if length > 1 else None


def build_items(
    examples: Sequence[Example],
    generations: Sequence[GenerationRecord],
    grades: dict[str, GradeResult],
    *,
    group_of: Any,
    conventions: Conventions,
    floor_examples: Sequence[Example] = (),
) -> tuple[list[Item], dict[str, str]]:
    """Items (real first, then each example's samples, then the floor's real codes)
    and their codes by item id. ``group_of(example)`` names the item's group."""
    gens_by_key: dict[str, list[GenerationRecord]] = {}
    for g in generations:
        gens_by_key.setdefault(g.key, []).append(g)
    items: list[Item] = []
    codes: dict[str, str] = {}

    def make(iid: str, role: str, e: Example, code: str, sample: int, submitted: Optional[bool],
             truncated: Optional[bool] = None) -> Item:
        codes[iid] = code
        it = Item(
            id=iid, key=e.key, sample=sample, role=role, group=group_of(e),  # type: ignore[arg-type]
            student_id=e.student_id, problem_id=e.problem_id, index=e.target_index, length=e.stream_length,
            position=_position(e.target_index, e.stream_length), submitted=submitted, truncated=truncated,
        )
        E.set_grade(it, grades.get(iid), conventions)
        return it

    for e in examples:
        items.append(make(f"{e.key}:real", "real", e, e.target, 0, e.is_final))
        for g in sorted(gens_by_key.get(e.key, []), key=lambda g: g.sample):
            items.append(make(g.id, "gen", e, g.code, g.sample, g.submitted, g.finish_reason == "length"))
    for e in floor_examples:
        items.append(make(f"{e.key}:floor", "floor", e, e.target, 0, e.is_final))
    E.set_edit_distances(items, codes)
    return items, codes


def embed_items(items: Sequence[Item], codes: dict[str, str], embedder_name: str,
                show_progress: bool = False, embedder: Any = None) -> dict[str, np.ndarray]:
    """id -> embedding of every item's code (cached by code hash where the embedder allows).
    ``embedder``: an embedder object standing in for ``embedder_name``'s (the same
    vectors, computed elsewhere: ``simstudent.scale.RayEmbedder``)."""
    from simstudent.metrics.cache import EmbeddingCache
    from simstudent.metrics.embedders import embed_codes, get_embedder

    if embedder is not None:
        if getattr(embedder, "registry_name", embedder.name) != embedder_name:
            raise ConfigError(f"the embedder given ({embedder.name!r}) is not the run's ({embedder_name!r})")
        # The progress loop would hand it the codes 256 at a time, one call after another;
        # an embedder that spreads one call over a cluster gets them all at once.
        show_progress = False
    else:
        embedder = get_embedder(embedder_name)
    cache = EmbeddingCache() if embedder.cacheable else None
    mat = embed_codes(embedder, [codes[it.id] for it in items], cache=cache, show_progress=show_progress)
    return {it.id: mat[i] for i, it in enumerate(items)}


def run_conventions(cfg: Any) -> Conventions:
    """The run's measuring conventions (the authors' when its config has none)."""
    conv = getattr(cfg, "conventions", None)
    return conv if isinstance(conv, Conventions) else Conventions()


def save_embeddings(folder: RunFolder, emb: dict[str, np.ndarray]) -> None:
    ids = sorted(emb)
    vecs = np.stack([emb[i] for i in ids]).astype(np.float16) if ids else np.zeros((0, 1), np.float16)
    tmp = folder.path / (EMBEDDINGS + ".tmp.npz")
    np.savez_compressed(tmp, ids=np.array(ids), vectors=vecs)
    tmp.replace(folder.path / EMBEDDINGS)


def read_grades(folder: RunFolder) -> dict[str, GradeResult]:
    return {r.id: r.grade for r in folder.records(GRADES, GradeRecord)}


def run_counts(examples: Sequence[Example], generations: Sequence[GenerationRecord]) -> dict[str, int]:
    keys = {e.key for e in examples}
    gens = [g for g in generations if g.key in keys]
    return {
        "examples": len(examples),
        "generations": len(gens),
        "students": len({e.student_id for e in examples}),
        "problems": len({e.problem_id for e in examples}),
        "streams": len({(e.student_id, e.problem_id) for e in examples}),
        "with_context": sum(1 for e in examples if e.context_problem_id),
        "truncated": sum(1 for g in gens if g.finish_reason == "length"),
        "backend_errors": sum(1 for g in gens if g.finish_reason == "error"),
        "empty_code": sum(1 for g in gens if not g.code.strip()),
        "submitted": sum(1 for g in gens if g.submitted),
    }


def finish_metrics(cfg: Any, folder: RunFolder, items: list[Item], codes: dict[str, str], groups: Sequence[str],
                   *, kind: str, counts: dict[str, int], template: str, bins: Optional[int],
                   progress: Any = None, extra: Optional[dict[str, Any]] = None,
                   embedder: Any = None) -> dict[str, Any]:
    """Style, embeddings, the engine's measures; write metrics.json and embeddings.npz.
    ``embedder`` stands in for ``cfg.embedder``'s (see :func:`embed_items`)."""
    conventions = run_conventions(cfg)
    E.set_style(items, codes, conventions)
    scorer = E.fit_style_scores(items)
    emb = embed_items(items, codes, cfg.embedder, show_progress=progress is not None and progress.enabled,
                      embedder=embedder)
    save_embeddings(folder, emb)
    out_groups, prog, floor = E.measure_items(
        items, emb, groups, progress_mode=conventions.progress if bins else None, bins=bins or E.DEFAULT_BINS,
        floor_seed=cfg.data.split_seed, floor_repeats=cfg.floor_repeats)
    gen = getattr(cfg, "gen", None)
    metrics = RunMetrics(
        kind=kind, label=cfg.run_label(), model=gen.model if gen else "", adapter=gen.adapter if gen else None,
        template=template, split=cfg.data.split, context=cfg.context, k=cfg.k if kind != "exp1" else None,
        samples=gen.samples if gen else 1, embedder=cfg.embedder, conventions=conventions.model_dump(),
        data=cfg.data.data, command=cfg.command,
        counts=counts, groups=out_groups, progress=prog, floor=floor, floor_seed=cfg.data.split_seed,
        floor_repeats=cfg.floor_repeats, style_scorer=scorer, items=items,
        notes=[
            f"pass rate: convention {conventions.pass_rate!r} (authors: undefined only for compile errors and "
            "top-level crashes); pass_rate_zero and pass_rate_excluded hold the other two",
            f"embedder: {cfg.embedder}",
        ],
        **(extra or {}),
    )
    data = metrics.model_dump(mode="json")
    folder.write_metrics(data)
    return data


def measure_run(cfg: Any, folder: RunFolder, examples: Sequence[Example], template: str,
                floor_examples: Sequence[Example] = (), progress: Any = None,
                embedder: Any = None) -> dict[str, Any]:
    """metrics.json for an exp1/exp2 run folder whose generations and grades are complete."""
    generations = folder.records(GENERATIONS, GenerationRecord)
    grades = read_grades(folder)
    if cfg.exp == "exp1":
        group_of = lambda e: e.stage  # noqa: E731
        groups: list[str] = ["first", "middle", "last"]
        bins = None  # exp1 has no progress
    else:
        group_of = lambda e: "all"  # noqa: E731
        groups = ["all"]
        bins = cfg.bins
    items, codes = build_items(examples, generations, grades, group_of=group_of, conventions=run_conventions(cfg),
                               floor_examples=floor_examples)
    missing = [it.id for it in items if it.id not in grades]
    if missing:
        raise InputError(f"{folder.path}: {len(missing)} codes have no grade (e.g. {missing[0]}); rerun to finish")
    counts = run_counts(examples, generations)
    counts["floor_codes"] = len(floor_examples)
    counts["floor_students"] = len({e.student_id for e in floor_examples})
    extra = None
    if cfg.exp == "exp2":  # how far each next attempt moves from the last real one shown
        from simstudent.metrics.edits import edit_sizes

        by_key: dict[str, list[str]] = {}
        for g in generations:
            by_key.setdefault(g.key, []).append(g.code)
        extra = {"edits": edit_sizes([(e.prior[-1] if e.prior else None, e.target, by_key.get(e.key, []))
                                      for e in examples])}
    return finish_metrics(cfg, folder, items, codes, groups, kind=cfg.exp, counts=counts, template=template,
                          bins=bins, progress=progress, extra=extra, embedder=embedder)
