"""Generated code against real code, for two datasets: pair them (``items``), turn
the pairs into engine items, and let ``engine.measure_items`` compute everything.

``compare(real, generated, config)`` returns a ``records.RunMetrics`` of kind
``compare`` whose groups are ``all`` and the stages first/middle/last (a one-attempt
stream's only code is in all three), each with per-problem cells, plus progress
curves and, when asked, the real-vs-real floor on exactly the same slots. Given the
same streams, it measures what ``simstudent eval`` measures and the report shows.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simstudent.metrics import engine as E
from simstudent.metrics.conventions import Conventions
from simstudent.metrics.items import STAGES, PairedCode, PairingMode, pair_items, stream_codes
from simstudent.metrics.records import Item, RunMetrics
from simstudent.schema import Dataset
from simstudent.errors import InputError

GROUPS = ("all", *STAGES)


class MetricsConfig(BaseModel):
    """Settings of a ``simstudent metrics`` run (defaults = the paper authors')."""

    model_config = ConfigDict(extra="forbid")

    embedder: Optional[str] = Field("minilm", description="Embedder registry name (minilm, tfidf, sfr-code); "
                                    "None skips the embedding metrics.")
    pairing: PairingMode = Field("auto", description="How generated codes meet real slots: auto, slot, stream, "
                                 "matched.")
    seed: int = Field(0, description="Seed of matched pairing, tf-idf and the floor's draws.")
    floor_repeats: int = Field(0, ge=0, description="Real-vs-real floor repeats (0: no floor).")
    bins: int = Field(10, ge=1, description="Bins of the normalised-bins progress mode.")
    near_threshold: float = Field(0.05, description="Memorisation: near-copy distance threshold.")
    processes: Optional[int] = Field(None, description="Style feature process pool size (None: all cores).")
    cache: bool = Field(True, description="Use the persistent embedding cache.")
    conventions: Conventions = Field(default_factory=Conventions, description="Named measuring conventions.")


def _item(code: PairedCode, iid: str, key: str, role: str, sample: int = 0) -> Item:
    return Item(id=iid, key=key, sample=sample, role=role, group="all",  # type: ignore[arg-type]
                stages=list(code.stages), student_id=code.student_id, problem_id=code.problem_id,
                index=code.position, length=code.length if code.ordered else None,
                position=code.step, submitted=code.position == code.length - 1 if code.ordered else None)


def build_items(real: Dataset, generated: Dataset, config: MetricsConfig) -> tuple[list[Item], dict[str, str], str]:
    """Engine items for a comparison: the paired real slots (``real``), the generated
    codes keyed by the slot they stand for (``gen``) and, for the floor, every real
    code (``floor``); plus codes by item id and the pairing mode used."""
    pairing = pair_items(real, generated, config.pairing, config.seed)
    if not pairing.real or not pairing.generated:
        raise InputError(f"nothing to compare: {len(pairing.real)} real and {len(pairing.generated)} generated codes")
    conv = config.conventions
    items: list[Item] = []
    codes: dict[str, str] = {}
    real_keys = [f"{c.stream_index}:{c.position}" for c in pairing.real]
    for i, c in enumerate(pairing.real):
        items.append(_item(c, f"real:{i}", real_keys[i], "real"))
        E.set_grade(items[-1], c.grade, conv)
        codes[items[-1].id] = c.code
    slot_of = {j: i for i, j in pairing.pairs}
    seen: dict[str, int] = {}
    for j, c in enumerate(pairing.generated):
        key = real_keys[slot_of[j]] if j in slot_of else f"gen-only:{j}"
        sample = 0
        if pairing.mode == "slot":  # several samples of one slot: numbered, edits stay within a sample
            sample = seen.get(key, 0)
            seen[key] = sample + 1
        it = _item(c, f"gen:{j}", key, "gen", sample)
        if pairing.mode != "slot":  # own stream: its own student and position
            it.student_id = f"gen:{c.stream_index}"
        E.set_grade(it, c.grade, conv)
        items.append(it)
        codes[it.id] = c.code
    if config.floor_repeats:
        for k, c in enumerate(stream_codes(real)):
            it = _item(c, f"floor:{k}", f"{c.stream_index}:{c.position}", "floor")
            E.set_grade(it, c.grade, conv)
            items.append(it)
            codes[it.id] = c.code
    E.set_edit_distances(items, codes)
    return items, codes, pairing.mode


def compare(real: Dataset, generated: Dataset, config: Optional[MetricsConfig] = None, *,
            train: Optional[Dataset] = None, store: Any = None, show_progress: bool = False) -> RunMetrics:
    """Every metric of ``generated`` against ``real`` (module docstring). ``store`` is
    an ``EmbeddingStore`` to reuse; one is built from ``config.embedder`` otherwise."""
    cfg = config or MetricsConfig()
    items, codes, mode = build_items(real, generated, cfg)
    E.set_style(items, codes, cfg.conventions, cfg.processes)
    scorer = E.fit_style_scores(items)
    if store is None and cfg.embedder:
        store = make_store(cfg, list(codes.values()), show_progress=show_progress)
    emb: dict[str, np.ndarray] = {}
    if store is not None:
        ids = list(codes)
        emb = dict(zip(ids, store.matrix([codes[i] for i in ids])))
    groups, prog, floor = E.measure_items(items, emb, GROUPS, progress_mode=cfg.conventions.progress, bins=cfg.bins,
                                          floor_seed=cfg.seed, floor_repeats=cfg.floor_repeats)
    extra: dict[str, Any] = {}
    if train is not None:
        from simstudent.metrics.memorisation import memorisation

        extra["memorisation"] = memorisation([codes[it.id] for it in items if it.role == "gen"],
                                             [s.code for st in train.streams for s in st.submissions],
                                             cfg.near_threshold)
    gens = [it for it in items if it.role == "gen"]
    return RunMetrics(
        kind="compare", label=generated.name or "generated", split=real.name or "real",
        embedder=store.name if store is not None else "", conventions=cfg.conventions.model_dump(),
        pairing=mode, counts={"real": sum(it.role == "real" for it in items), "generated": len(gens),
                              "streams": len({(it.student_id, it.problem_id) for it in gens}),
                              "problems": len({it.problem_id for it in gens}),
                              "floor_codes": sum(it.role == "floor" for it in items)},
        groups=groups, progress=prog, floor=floor, floor_seed=cfg.seed, floor_repeats=cfg.floor_repeats,
        style_scorer=scorer, items=[it for it in items if it.role != "floor"], **extra,
    )


def make_store(config: MetricsConfig, codes: Sequence[str], show_progress: bool = False) -> Any:
    """An ``EmbeddingStore`` for ``config.embedder``, prepared with ``codes``."""
    from simstudent.metrics.cache import EmbeddingCache
    from simstudent.metrics.embedders import EmbeddingStore, get_embedder

    kwargs = {"seed": config.seed} if config.embedder == "tfidf" else {}
    store = EmbeddingStore(get_embedder(config.embedder, **kwargs),  # type: ignore[arg-type]
                           cache=EmbeddingCache() if config.cache else None, show_progress=show_progress)
    store.prepare(codes)
    return store
