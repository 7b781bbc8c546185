"""Figures shaped like the seed paper's Fig. 2-4, drawn with matplotlib (Agg) to PNG.

- Fig. 2: code embeddings of exp1 projected to 2D with PCA, one panel per stage
  (columns) and context setting (rows), students as black squares.
- Fig. 3: error-type distribution per stage, students next to each model.
- Fig. 4: exp2 progress over steps (1..T, T the rounded median stream length of a
  problem; or normalised bins for runs measured that way): pass rate, style score
  and edit distance between consecutive attempts (rows), one column per test set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from simstudent.metrics.records import STAGES, RunMetrics
from simstudent.experiments.report.tables import splits_of
from simstudent.schema import ERROR_TYPES

_MARKERS = ["o", "x", "^", "D", "v", "P", "*", "<", ">"]
_COLORS = ["tab:orange", "tab:green", "tab:purple", "tab:blue", "tab:red", "tab:brown", "tab:pink", "tab:olive"]
STUDENT_COLOR = "black"


def _plt():
    # Agg: no display on servers and in tests; imported lazily to keep the CLI fast.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def run_label(run: RunMetrics) -> str:
    """Legend label: the run's label plus what distinguishes runs of one model."""
    bits = [run.label]
    if run.kind in ("exp2", "rollout") and run.k is not None:
        bits.append(f"k={run.k}")
    bits.append("ctx" if run.context else "no ctx")
    return f"{bits[0]} ({', '.join(bits[1:])})"


def _style(i: int) -> tuple[str, str]:
    return _COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)]


def palette(runs: Sequence[RunMetrics]) -> dict[str, tuple[str, str]]:
    """One (colour, marker) per legend label, the same in every figure."""
    labels = sorted({run_label(r) for r in runs})
    return {lab: _style(i) for i, lab in enumerate(labels)}


def load_embeddings(folder: Optional[Path]) -> dict[str, np.ndarray]:
    """``embeddings.npz`` of a run folder as id -> vector ({} when absent)."""
    if folder is None:
        return {}
    path = folder / "embeddings.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        ids = [str(x) for x in data["ids"]]
        vecs = data["vectors"].astype(np.float32)
    return dict(zip(ids, vecs))


def _pca2(x: np.ndarray) -> np.ndarray:
    """Project rows of ``x`` to their first two principal components."""
    centered = x - x.mean(axis=0, keepdims=True)
    if len(x) < 2:
        return np.zeros((len(x), 2))
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    comps = vt[:2]
    out = centered @ comps.T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((len(out), 2 - out.shape[1]))])
    return out


def fig2_embeddings(
    runs: Sequence[tuple[RunMetrics, Optional[Path]]], split: str, out: Path
) -> Optional[Path]:
    """Fig. 2 for one test set; None when no exp1 run of it has embeddings."""
    mine = [(r, d) for r, d in runs if r.kind == "exp1" and r.split == split]
    mine.sort(key=lambda rd: (rd[0].label, rd[0].context))
    points: list[tuple[str, str, bool, str, np.ndarray]] = []  # (source, stage, ctx, id, vec)
    real_seen: set[str] = set()
    for r, d in mine:
        emb = load_embeddings(d)
        if not emb:
            continue
        for it in r.items:
            vec = emb.get(it.id)
            if vec is None or it.role == "floor":
                continue
            if it.role == "real":
                # The same real code appears in every run of the split: plot it once
                # per context row.
                tag = f"{it.key}|{r.context}"
                if tag in real_seen:
                    continue
                real_seen.add(tag)
                points.append(("Student", it.group, r.context, it.id, vec))
            else:
                points.append((run_label(r), it.group, r.context, it.id, vec))
    if not points:
        return None
    xy = _pca2(np.stack([p[4] for p in points]))
    colors = palette([r for r, _ in runs])
    contexts = sorted({p[2] for p in points})
    sources = ["Student"] + sorted({p[0] for p in points} - {"Student"})
    plt = _plt()
    fig, axes = plt.subplots(
        len(contexts), len(STAGES), figsize=(4.2 * len(STAGES), 3.6 * len(contexts)), squeeze=False,
        sharex=True, sharey=True,
    )
    for row, ctx in enumerate(contexts):
        for col, stage in enumerate(STAGES):
            ax = axes[row][col]
            for si, src in enumerate(sources):
                sel = [i for i, p in enumerate(points) if p[0] == src and p[1] == stage and p[2] == ctx]
                if not sel:
                    continue
                if src == "Student":
                    ax.scatter(xy[sel, 0], xy[sel, 1], marker="s", s=22, c=STUDENT_COLOR, label=src, alpha=0.8)
                else:
                    color, marker = colors.get(src, _style(si - 1))
                    ax.scatter(xy[sel, 0], xy[sel, 1], marker=marker, s=22, c=color, label=src, alpha=0.7)
            ax.set_title(f"{stage} - context {'T' if ctx else 'F'}", fontsize=10)
            ax.grid(alpha=0.3)
    return _finish(fig, axes, f"Fig. 2 - exp1 code embeddings, PCA to 2D ({split})", out, rect=(0, 0.08, 1, 0.95))


def fig3_error_types(runs: Sequence[RunMetrics], out: Path) -> Optional[Path]:
    """Fig. 3: one row per test set, one panel per stage, grouped bars per error type."""
    exp1 = [r for r in runs if r.kind == "exp1" and r.groups]
    if not exp1:
        return None
    splits = splits_of(exp1)
    colors = palette(runs)
    plt = _plt()
    fig, axes = plt.subplots(len(splits), len(STAGES), figsize=(4.4 * len(STAGES), 3.4 * len(splits)), squeeze=False)
    for row, split in enumerate(splits):
        mine = sorted((r for r in exp1 if r.split == split), key=lambda r: (r.label, r.context))
        for col, stage in enumerate(STAGES):
            ax = axes[row][col]
            series: list[tuple[str, dict[str, float], str]] = []
            real = next((r.group(stage).error_types.get("real") for r in mine if r.group(stage)), None)
            if real:
                series.append(("Student", real, STUDENT_COLOR))
            for i, r in enumerate(mine):
                g = r.group(stage)
                if g and g.error_types.get("gen"):
                    series.append((run_label(r), g.error_types["gen"], colors.get(run_label(r), _style(i))[0]))
            width = 0.8 / max(1, len(series))
            x = np.arange(len(ERROR_TYPES))
            for j, (name, dist, color) in enumerate(series):
                vals = [100 * dist.get(e, 0.0) for e in ERROR_TYPES]
                ax.bar(x + (j - (len(series) - 1) / 2) * width, vals, width, label=name, color=color,
                       alpha=0.85 if name != "Student" else 1.0)
            ax.set_xticks(x)
            ax.set_xticklabels([e.replace("_", " ") for e in ERROR_TYPES], fontsize=8)
            ax.set_ylim(0, 100)
            ax.set_ylabel("% of codes" if col == 0 else "")
            ax.set_title(f"{split} - {stage}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
    return _finish(fig, axes, "Fig. 3 - exp1 error types per stage", out, rect=(0, 0.08, 1, 0.95))


PROGRESS_MEASURES = (
    ("pass_rate", "pass rate (%)", 100.0),
    ("style_score", "style score", 1.0),
    ("edit_distance", "edit distance to previous", 1.0),
)


def fig4_progress(runs: Sequence[RunMetrics], out: Path) -> Optional[Path]:
    """Fig. 4: exp2 progress curves; rows = measures, columns = test sets."""
    exp2 = [r for r in runs if r.kind == "exp2" and r.progress and r.progress.bins]
    if not exp2:
        return None
    splits = splits_of(exp2)
    colors = palette(runs)
    plt = _plt()
    fig, axes = plt.subplots(
        len(PROGRESS_MEASURES), len(splits), figsize=(5.2 * len(splits), 2.9 * len(PROGRESS_MEASURES)), squeeze=False
    )
    for col, split in enumerate(splits):
        mine = sorted((r for r in exp2 if r.split == split), key=lambda r: (r.label, r.k or 0, r.context))
        for row, (measure, ylabel, scale) in enumerate(PROGRESS_MEASURES):
            ax = axes[row][col]
            student_drawn = False
            for i, r in enumerate(mine):
                bins = r.progress.bins
                if not student_drawn:
                    real = r.progress.series.get("real", {}).get(measure)
                    if real:
                        ax.plot(bins, [np.nan if v is None else v * scale for v in real], "s-",
                                color=STUDENT_COLOR, label="Student", linewidth=2)
                        student_drawn = True
                gen = r.progress.series.get("gen", {}).get(measure)
                if gen:
                    color, marker = colors.get(run_label(r), _style(i))
                    ax.plot(bins, [np.nan if v is None else v * scale for v in gen], marker=marker,
                            linestyle="-", color=color, label=run_label(r))
            xlabel = "step" if mine and mine[0].progress.mode == "median-steps" else "normalised step"
            ax.set_xlabel(xlabel if row == len(PROGRESS_MEASURES) - 1 else "")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{split}", fontsize=10)
            ax.grid(alpha=0.3)
    return _finish(fig, axes, "Fig. 4 - exp2 progress over attempts", out, rect=(0, 0.07, 1, 0.96))


def _finish(fig, axes, title: str, out: Path, rect: tuple[float, float, float, float]) -> Path:
    """One legend for all panels (each label once), the title, and the PNG written."""
    plt = _plt()

    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=rect)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
