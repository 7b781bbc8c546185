"""``simstudent metrics``: how student-like generated code is, next to the
real-vs-real floor. Thin over ``simstudent.metrics``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer

from simstudent.cli._common import console, fail, print_json

# (label, real-side path or None, generated-side path) inside one group's result.
_ROWS: list[tuple[str, Optional[str], str]] = [
    ("KNN distance (k=3) lower=closer", None, "embedding.knn_distance"),
    ("coverage (k=10) higher=better", None, "embedding.coverage"),
    ("paired cosine distance", None, "embedding.paired_cosine_distance"),
    ("pass rate, errors as 0", "functional.real.pass_rate.errors_as_zero.mean",
     "functional.generated.pass_rate.errors_as_zero.mean"),
    ("pass rate, errors excluded", "functional.real.pass_rate.errors_excluded.mean",
     "functional.generated.pass_rate.errors_excluded.mean"),
    ("pass-rate MAE (errors as 0)", None, "functional.pass_rate_mae.errors_as_zero.mae"),
    *[(f"share {t}", f"functional.real.error_types.shares.{t}", f"functional.generated.error_types.shares.{t}")
      for t in ("no_error", "logical", "runtime", "compile")],
    ("recorded correct (log verdict)", "functional.real.recorded_correct.mean",
     "functional.generated.recorded_correct.mean"),
    *[row for f in ("pep8", "style_score") for row in (
        (f"{f} mean", f"style.{f}.real.mean", f"style.{f}.generated.mean"),
        (f"{f} sd", f"style.{f}.real.sd", f"style.{f}.generated.sd"),
        (f"{f} MAE (paired)", None, f"style.{f}.mae"))],
    *[(f"{f} mean", f"style.{f}.real.mean", f"style.{f}.generated.mean")
      for f in ("chars", "lines", "depth", "width", "nodes")],
]
_TOP_ROWS: list[tuple[str, str]] = [
    ("progress gap: pass rate", "progress.curve_gap.pass_rate"),
    ("progress gap: recorded correct", "progress.curve_gap.recorded_correct"),
    ("progress gap: style score", "progress.curve_gap.style_score"),
    ("progress gap: edit distance", "progress.curve_gap.edit_distance"),
    ("memorisation: exact copies", "memorisation.exact_share"),
    ("memorisation: near copies", "memorisation.near_share"),
]


def _fmt(v: Optional[float]) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.3f}" if abs(v) < 1000 else f"{v:,.0f}"


def _floor_cell(floor: Optional[dict], path: str) -> str:
    if not floor:
        return ""
    agg = floor["aggregate"].get(path)
    if not agg or agg["n"] == 0:
        return ""
    return _fmt(agg["mean"]) + (f" ± {_fmt(agg['sd'])}" if agg["n"] > 1 else "")


def _print_tables(result: Optional[dict], floor: Optional[dict]) -> None:
    from rich.table import Table

    from simstudent.metrics.compare import get_path

    source = result or (floor["runs"][0] if floor else {})
    for group in ("overall", "stage:first", "stage:middle", "stage:last"):
        if group not in source.get("groups", {}):
            continue
        table = Table(title=f"{group}  (embedder: {source.get('embedder') or 'none'}, pairing: {source['pairing']})")
        table.add_column("metric")
        if result:
            table.add_column("real", justify="right")
            table.add_column("generated", justify="right")
        elif floor:  # floor only: show the "real" half too
            table.add_column("half A (real)", justify="right")
        if floor:
            table.add_column(f"real-vs-real floor ({floor['repeats']}x)", justify="right")
        for label, rpath, gpath in _ROWS:
            cells = []
            if result:
                cells += [_fmt(get_path(result, f"groups.{group}.{rpath}")) if rpath else "",
                          _fmt(get_path(result, f"groups.{group}.{gpath}"))]
            elif floor:
                cells.append(_floor_cell(floor, f"groups.{group}.{rpath}") if rpath else "")
            if floor:
                cells.append(_floor_cell(floor, f"groups.{group}.{gpath}"))
            if any(cells):
                table.add_row(label, *cells)
        console.print(table)
    table = Table(title="progress and memorisation")
    table.add_column("metric")
    if result:
        table.add_column("generated vs real", justify="right")
    if floor:
        table.add_column("real-vs-real floor", justify="right")
    for label, path in _TOP_ROWS:
        cells = ([_fmt(get_path(result, path))] if result else []) + ([_floor_cell(floor, path)] if floor else [])
        if any(cells):
            table.add_row(label, *cells)
    console.print(table)


def _print_rollout(rollout: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"rollouts ({rollout['n_rollouts']}, match threshold {rollout['match_threshold']})")
    table.add_column("score")
    table.add_column("mean", justify="right")
    table.add_column("sd", justify="right")
    for k, v in rollout["means"].items():
        table.add_row(k, _fmt(v["mean"]), _fmt(v["sd"]))
    console.print(table)


def metrics(
    real: Optional[Path] = typer.Argument(None, help="Real submissions: dataset (ProgSnap2 folder, CSV, JSONL)."),
    generated: Optional[Path] = typer.Argument(None, help="Generated: dataset JSONL or trajectories JSONL."),
    embedder: str = typer.Option("minilm", "--embedder", help="minilm (offline default), tfidf, sfr-code, none."),
    as_json: bool = typer.Option(False, "--json", help="Print every figure as one JSON object."),
    floor: bool = typer.Option(False, "--floor", help="Also compute the real-vs-real floor on REAL."),
    floor_only: Optional[Path] = typer.Option(None, "--floor-only", help="Only the floor of this dataset."),
    repeats: int = typer.Option(5, "--repeats", help="Random half splits for the floor."),
    train: Optional[Path] = typer.Option(None, "--train", help="Training data: enables the memorisation check."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Skip malformed rows of the datasets "
                                       "(counted in their provenance, the first few named) instead of stopping."),
    pairing: str = typer.Option("auto", "--pairing", help="auto, slot, stream or matched."),
    bins: int = typer.Option(10, "--bins", help="Normalised-step bins for progress."),
    seed: int = typer.Option(0, "--seed"),
    match_threshold: float = typer.Option(0.8, "--match-threshold", help="Rollout step-match similarity."),
    by_problem: bool = typer.Option(True, "--by-problem/--no-by-problem", help="Per-problem groups in --json."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Persistent embedding cache."),
    problems: Optional[str] = typer.Option(
        None, "--problems", help="Course or folder of problem specs (e.g. simstudent/scenarios/itap): grade ungraded "
        "submissions in the sandbox so error types and pass rates can be reported."),
) -> None:
    """Realism metrics of GENERATED against REAL (embedding, functional, style,
    progress; rollouts and memorisation when the inputs allow), optionally beside the
    real-vs-real floor. ``--floor-only DATASET`` computes just the floor."""
    from simstudent.data.errors import DataError
    from simstudent.errors import SimstudentError
    from simstudent.metrics.compare import MetricsConfig, StyleCache, compare, make_store
    from simstudent.metrics.floor import real_floor
    from simstudent.metrics.inputs import load_input
    from simstudent.metrics.items import detect_mode
    from simstudent.metrics.rollout import RolloutConfig, continuation_datasets, is_rollout, rollout_metrics

    if floor_only is None and (real is None or generated is None):
        fail("give REAL and GENERATED, or --floor-only DATASET")
    if pairing not in ("auto", "slot", "stream", "matched"):
        fail(f"--pairing must be auto, slot, stream or matched, not {pairing!r}")
    cfg = MetricsConfig(embedder=None if embedder == "none" else embedder, bins=bins, seed=seed,
                        pairing=pairing, by_problem=by_problem, cache=cache)  # type: ignore[arg-type]
    out: dict[str, Any] = {"config": cfg.model_dump()}
    result = floor_result = None
    def graded(ds):
        return _grade_in_place(ds, problems, quiet=as_json) if problems else ds

    try:
        if floor_only is not None:
            ds = graded(load_input(floor_only, skip_bad_rows=skip_bad_rows).dataset)
            floor_result = real_floor(ds, cfg, repeats=repeats, show_progress=not as_json)
        else:
            real_in = load_input(real, skip_bad_rows=skip_bad_rows)  # type: ignore[arg-type]
            gen_in = load_input(generated, skip_bad_rows=skip_bad_rows)  # type: ignore[arg-type]
            graded(real_in.dataset)
            graded(gen_in.dataset)
            train_ds = load_input(train, skip_bad_rows=skip_bad_rows).dataset if train else None
            real_ds, gen_ds = real_in.dataset, gen_in.dataset
            rollouts = [t for t in gen_in.trajectories if is_rollout(t)]
            if rollouts:
                out["rollout"] = rollout_metrics(real_ds, rollouts, RolloutConfig(match_threshold))
                if len(rollouts) == len(gen_in.trajectories):
                    # Compare what was generated with what the students did after the prefix.
                    real_ds, gen_ds = continuation_datasets(real_ds, rollouts)
            if cfg.pairing == "auto":
                cfg = cfg.model_copy(update={"pairing": detect_mode(
                    real_ds, gen_ds, allow_slot=gen_in.kind != "trajectories")})
            codes = [s.code for d in (real_in.dataset, gen_ds) for st in d.streams for s in st.submissions]
            # Style first: its process pool forks before any embedding model starts threads.
            styles = StyleCache(cfg.processes)
            styles.features(codes)
            store = make_store(cfg, codes, show_progress=not as_json) if cfg.embedder else None
            # One embedding space and one style cache for the model rows and the floor.
            result = compare(real_ds, gen_ds, cfg, train=train_ds, store=store, style_cache=styles)
            if floor:
                floor_result = real_floor(real_in.dataset, cfg, repeats=repeats, store=store, style_cache=styles,
                                          show_progress=not as_json)
    except DataError as exc:
        fail(str(exc))
    except SimstudentError as exc:
        fail(str(exc))
    out["comparison"] = result
    out["floor"] = floor_result
    if as_json:
        print_json(out)
        return
    _print_tables(result, floor_result)
    if "rollout" in out:
        _print_rollout(out["rollout"])


def _grade_in_place(dataset, problems: str, quiet: bool):
    """Attach specs from ``problems`` and grade every ungraded submission."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from simstudent.cli._common import err_console
    from simstudent.grader import Grader
    from simstudent.grader.dataset import grade_dataset
    from simstudent.problems import attach_problems

    missing = attach_problems(dataset, problems)
    if missing and not quiet:
        err_console.print(f"no spec with tests for {len(missing)} problem(s): {', '.join(missing[:8])}")
    with Grader() as grader, Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                      console=err_console, transient=True, disable=quiet) as bar:
        task = bar.add_task("grading", total=dataset.n_submissions)
        grade_dataset(dataset, grader, progress=lambda n: bar.advance(task, n))
    return dataset


def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.command("metrics")(metrics)
