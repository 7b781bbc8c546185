"""One comparison of generated code against real code: every metric, per group.

``compare(real, generated, config)`` pairs the two datasets (see ``items``), then
computes per group - ``overall``, each stage (first/middle/last) and each problem -
the embedding, functional and style metrics, plus progress curves over normalised
steps and, given training data, memorisation. The result is a plain JSON-able
dict; ``flatten`` turns it into ``{"a.b.c": number}`` for the floor and reports.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from pydantic import BaseModel, Field

from simstudent.metrics.embedding import embedding_metrics
from simstudent.metrics.functional import functional_metrics
from simstudent.metrics.items import STAGES, Item, PairingMode, pair_items
from simstudent.metrics.memorisation import memorisation
from simstudent.metrics.progress import previous_codes, progress_metrics
from simstudent.metrics.style import StyleFeatures, StyleScorer, style_features_many, style_metrics
from simstudent.schema import Dataset
from simstudent.errors import InputError


class MetricsConfig(BaseModel):
    """Settings of a metrics run (defaults = the seed paper's)."""

    embedder: Optional[str] = Field("minilm", description="registry name; None skips embedding metrics")
    knn_k: int = 3
    coverage_k: int = 10
    bins: int = 10
    pairing: PairingMode = "auto"
    seed: int = 0
    near_threshold: float = 0.05
    by_problem: bool = True
    processes: Optional[int] = None  # style pool size; None = all cores
    cache: bool = True  # persistent embedding cache under simstudent.paths.cache_dir()


class StyleCache:
    """Style features by code, shared across comparisons (floor repeats). Fill it
    before loading an embedding model: new codes go through a forked process pool."""

    def __init__(self, processes: Optional[int] = None) -> None:
        self.processes = processes
        self._feats: dict[str, StyleFeatures] = {}

    def features(self, codes: Sequence[str]) -> list[StyleFeatures]:
        missing = [c for c in dict.fromkeys(codes) if c not in self._feats]
        if missing:
            self._feats.update(zip(missing, style_features_many(missing, self.processes)))
        return [self._feats[c] for c in codes]


def _group(idx_r: list[int], idx_g: list[int], pairs: Sequence[tuple[int, int]]) -> tuple[dict, dict, list]:
    rmap = {i: k for k, i in enumerate(idx_r)}
    gmap = {j: k for k, j in enumerate(idx_g)}
    sub = [(rmap[i], gmap[j]) for i, j in pairs if i in rmap and j in gmap]
    return rmap, gmap, sub


def _group_metrics(real: list[Item], gen: list[Item], idx_r: list[int], idx_g: list[int],
                   pairs: Sequence[tuple[int, int]], rfeat: list[StyleFeatures], gfeat: list[StyleFeatures],
                   scorer: StyleScorer, store: Any, config: MetricsConfig) -> dict[str, Any]:
    _, _, sub = _group(idx_r, idx_g, pairs)
    out: dict[str, Any] = {"n_real": len(idx_r), "n_generated": len(idx_g), "n_pairs": len(sub)}
    if store is not None and idx_r and idx_g:
        out["embedding"] = embedding_metrics(
            store.matrix([real[i].code for i in idx_r]), store.matrix([gen[j].code for j in idx_g]),
            pairs=sub, knn_k=config.knn_k, coverage_k=config.coverage_k, embedder=store.name)
    out["functional"] = functional_metrics(
        [real[i].grade for i in idx_r], [gen[j].grade for j in idx_g],
        real_recorded=[real[i].recorded_correct for i in idx_r],
        generated_recorded=[gen[j].recorded_correct for j in idx_g], pairs=sub)
    out["style"] = style_metrics([rfeat[i] for i in idx_r], [gfeat[j] for j in idx_g], scorer, sub)
    return out


def compare(real: Dataset, generated: Dataset, config: Optional[MetricsConfig] = None, *,
            train: Optional[Dataset] = None, store: Any = None, style_cache: Optional[StyleCache] = None,
            show_progress: bool = False) -> dict[str, Any]:
    """Every metric of ``generated`` against ``real`` (see module docstring).

    ``store`` is an ``EmbeddingStore`` to use (one is built from ``config.embedder``
    when omitted and an embedder is configured); ``style_cache`` reuses style
    features across calls.
    """
    cfg = config or MetricsConfig()
    pairing = pair_items(real, generated, cfg.pairing, cfg.seed)
    ri, gi = pairing.real, pairing.generated
    if not ri or not gi:
        raise InputError(f"nothing to compare: {len(ri)} real and {len(gi)} generated submissions")
    styles = style_cache or StyleCache(cfg.processes)
    feats = styles.features([it.code for it in ri + gi])  # one call: one pool for all new codes
    rfeat, gfeat = feats[: len(ri)], feats[len(ri):]
    scorer = StyleScorer.fit(rfeat + gfeat)
    if store is None and cfg.embedder:
        store = make_store(cfg, [it.code for it in ri + gi], show_progress=show_progress)

    groups: dict[str, tuple[list[int], list[int]]] = {"overall": (list(range(len(ri))), list(range(len(gi))))}
    for stage in STAGES:
        groups[f"stage:{stage}"] = ([i for i, it in enumerate(ri) if stage in it.stages],
                                    [j for j, it in enumerate(gi) if stage in it.stages])
    if cfg.by_problem:
        for pid in sorted({it.problem_id for it in gi}):
            groups[f"problem:{pid}"] = ([i for i, it in enumerate(ri) if it.problem_id == pid],
                                        [j for j, it in enumerate(gi) if it.problem_id == pid])
    result: dict[str, Any] = {
        "pairing": pairing.mode,
        "embedder": store.name if store is not None else None,
        "n_real": len(ri), "n_generated": len(gi), "n_pairs": len(pairing.pairs),
        "style_scorer": scorer.to_dict(),
        "groups": {name: _group_metrics(ri, gi, r, g, pairing.pairs, rfeat, gfeat, scorer, store, cfg)
                   for name, (r, g) in groups.items() if r or g},
    }
    gen_source = real if pairing.mode == "slot" else generated
    result["progress"] = progress_metrics(
        ri, previous_codes(ri, real), [scorer.score(f) for f in rfeat],
        gi, previous_codes(gi, gen_source), [scorer.score(f) for f in gfeat], cfg.bins)
    if train is not None:
        result["memorisation"] = memorisation([it.code for it in gi],
                                              [s.code for st in train.streams for s in st.submissions],
                                              cfg.near_threshold)
    return result


def make_store(config: MetricsConfig, codes: Sequence[str], show_progress: bool = False) -> Any:
    """An ``EmbeddingStore`` for ``config.embedder``, prepared with ``codes``."""
    from simstudent.metrics.cache import EmbeddingCache
    from simstudent.metrics.embedders import EmbeddingStore, get_embedder

    kwargs = {"seed": config.seed} if config.embedder == "tfidf" else {}
    store = EmbeddingStore(get_embedder(config.embedder, **kwargs),  # type: ignore[arg-type]
                           cache=EmbeddingCache() if config.cache else None, show_progress=show_progress)
    store.prepare(codes)
    return store


def flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested result as ``{"a.b.0.c": value}`` (bools and
    strings dropped; NaN kept)."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, (list, tuple)):
        for k, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = float(obj)
    return out


def get_path(result: dict[str, Any], path: str) -> Optional[float]:
    """The number at a dotted path of a nested result, or None."""
    cur: Any = result
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    if isinstance(cur, (int, float)) and not isinstance(cur, bool):
        return None if isinstance(cur, float) and math.isnan(cur) else float(cur)
    return None
