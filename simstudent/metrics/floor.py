"""The real-vs-real floor: every metric between two random halves of the real
students, repeated with different seeds, reported as mean +- sd.

Repeat r shuffles the sorted student ids with ``random.Random(seed + r)``; the
first floor(n/2) students are "real", the rest play "generated". Pairing is
``matched`` (streams of the same problem zipped at random, attempts by normalised
position). Memorisation is the share of the second half's submissions that copy a
first-half submission - the rate at which real students resemble each other.

Embeddings are computed once for all codes of the dataset (one tf-idf fit for all
repeats, so repeats share one space); style features are computed once per code.
The style score is refitted per repeat on both halves, i.e. on every code.
"""

from __future__ import annotations

import random
from typing import Any, Optional

from simstudent.metrics._stats import clean, mean, sd
from simstudent.metrics.compare import MetricsConfig, StyleCache, compare, flatten, make_store
from simstudent.metrics.memorisation import memorisation
from simstudent.schema import Dataset
from simstudent.errors import ConfigError, InputError


def split_students(dataset: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    """Two datasets with disjoint random halves of the students."""
    students = dataset.students
    if len(students) < 2:
        raise InputError(f"dataset {dataset.name!r} has {len(students)} student(s); the floor needs at least 2")
    rng = random.Random(seed)
    shuffled = list(students)
    rng.shuffle(shuffled)
    first = set(shuffled[: len(shuffled) // 2])

    def part(keep: bool, tag: str) -> Dataset:
        return Dataset(name=f"{dataset.name}:{tag}", problems=dataset.problems,
                       streams=[s for s in dataset.streams if (s.student_id in first) == keep])

    return part(True, f"half-a-seed{seed}"), part(False, f"half-b-seed{seed}")


def aggregate(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, sd (ddof=1) and count of each numeric leaf over the repeats."""
    flats = [flatten(r) for r in results]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    out = {}
    for k in keys:
        vals = clean(f.get(k) for f in flats)
        out[k] = {"mean": mean(vals), "sd": sd(vals), "n": len(vals)}
    return out


def real_floor(dataset: Dataset, config: Optional[MetricsConfig] = None, *, repeats: int = 5,
               store: Any = None, style_cache: Optional[StyleCache] = None,
               show_progress: bool = False) -> dict[str, Any]:
    """The floor for ``dataset``: ``repeats`` half/half comparisons and their
    aggregate. ``store`` (an ``EmbeddingStore`` already prepared with every code of
    the dataset) may be passed to share one embedding space with model rows."""
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    cfg = (config or MetricsConfig()).model_copy(update={"pairing": "matched"})
    styles = style_cache or StyleCache(cfg.processes)
    codes = [s.code for st in dataset.streams for s in st.submissions]
    styles.features(codes)  # before any embedding model starts threads (the style pool forks)
    if store is None and cfg.embedder:
        store = make_store(cfg, codes, show_progress=show_progress)
    runs = []
    progress_ctx = None
    if show_progress:
        from rich.progress import Progress

        progress_ctx = Progress(transient=True)
        progress_ctx.start()
        task = progress_ctx.add_task("real-vs-real floor", total=repeats)
    try:
        for r in range(repeats):
            seed = cfg.seed + r
            half_a, half_b = split_students(dataset, seed)
            run = compare(half_a, half_b, cfg.model_copy(update={"seed": seed}), store=store, style_cache=styles)
            run["memorisation"] = memorisation([s.code for st in half_b.streams for s in st.submissions],
                                               [s.code for st in half_a.streams for s in st.submissions],
                                               cfg.near_threshold)
            run["seed"] = seed
            runs.append(run)
            if progress_ctx is not None:
                progress_ctx.advance(task)
    finally:
        if progress_ctx is not None:
            progress_ctx.stop()
    return {
        "dataset": dataset.name,
        "embedder": store.name if store is not None else None,
        "repeats": repeats,
        "seeds": [r["seed"] for r in runs],
        "n_students": len(dataset.students),
        "aggregate": aggregate(runs),
        "runs": runs,
    }
