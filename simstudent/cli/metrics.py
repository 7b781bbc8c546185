"""``simstudent metrics``: how student-like generated code is, next to the
real-vs-real floor. Thin over ``simstudent.metrics``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import typer

from simstudent.cli._common import console, fail, print_json

def _fmt(v: Optional[float], digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:,.0f}"


def _pm(s: Any, digits: int = 3) -> str:
    if s.mean is None:
        return "n/a"
    return _fmt(s.mean, digits) + (f" ± {_fmt(s.sd, digits)}" if s.sd is not None else "")


def _print_tables(result: Any) -> None:
    """One table per group: model row, real side, and the floor beside it."""
    from rich.table import Table

    for g in result.groups:
        fg = result.floor_group(g.group)
        table = Table(title=f"{g.group}  ({g.n_real} real, {g.n_gen} generated codes; {g.n_cells} problem cells; "
                            f"embedder {result.embedder or 'none'}, pairing {result.pairing})")
        table.add_column("metric")
        table.add_column("real", justify="right")
        table.add_column("generated", justify="right")
        if fg is not None:
            table.add_column(f"real-vs-real floor ({fg.repeats}x)", justify="right")
        rows: list[tuple[str, str, str, str]] = [
            (f"KNN distance (k=3), mean of {g.n_cells_knn} cells", "", _fmt(g.knn_distance),
             _pm(fg.knn_distance) if fg else ""),
            (f"coverage (k=10), mean of {g.n_cells_coverage} cells*", "", _fmt(g.coverage),
             _pm(fg.coverage) if fg else ""),
            ("paired cosine distance", "", _fmt(g.cosine_distance.mean), _pm(fg.cosine_distance) if fg else ""),
            (f"pass rate ({result.conventions.get('pass_rate', 'authors')})", _fmt(g.pass_rate.real.mean),
             _fmt(g.pass_rate.gen.mean), _pm(fg.pass_rate) if fg else ""),
            ("pass-rate MAE", "", _fmt(g.pass_rate.mae), _pm(fg.pass_rate_mae) if fg else ""),
            ("PEP 8 violations", _fmt(g.pep8.real.mean, 2), _fmt(g.pep8.gen.mean, 2), _pm(fg.pep8, 2) if fg else ""),
            ("PEP 8 MAE", "", _fmt(g.pep8.mae, 2), _pm(fg.pep8_mae, 2) if fg else ""),
            ("style score", _fmt(g.style_score.real.mean), _fmt(g.style_score.gen.mean),
             _pm(fg.style_score) if fg else ""),
            ("style-score MAE", "", _fmt(g.style_score.mae), _pm(fg.style_mae) if fg else ""),
            *[(f"share {t}", _fmt(g.error_types.get("real", {}).get(t)), _fmt(g.error_types.get("gen", {}).get(t)), "")
              for t in ("no_error", "logical", "runtime", "compile")],
        ]
        for label, *cells in rows:
            table.add_row(label, *(cells if fg is not None else cells[:2]))
        console.print(table)
    console.print("* n/a where a cell has at most 10 real codes (coverage would be 100% whatever was generated); "
                  "KNN n/a where a cell has fewer than 3 generated codes.")
    if result.memorisation:
        m = result.memorisation
        console.print(f"memorisation: {_fmt(m['exact_share'])} exact, {_fmt(m['near_share'])} near copies")


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
    floor: bool = typer.Option(False, "--floor", help="Also compute the real-vs-real floor on the same slots."),
    repeats: int = typer.Option(5, "--repeats", help="Floor repeats (mean ± sd over them)."),
    train: Optional[Path] = typer.Option(None, "--train", help="Training data: enables the memorisation check."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Skip malformed rows of the datasets "
                                       "(counted in their provenance, the first few named) instead of stopping."),
    pairing: str = typer.Option("auto", "--pairing", help="auto, slot, stream or matched."),
    pass_rate: str = typer.Option("authors", "--pass-rate", help="authors, errors_as_zero or errors_excluded."),
    pep8: str = typer.Option("authors", "--pep8", help="PEP 8 count: authors or wrapped."),
    size: str = typer.Option("stripped", "--size", help="Characters/lines: stripped (authors) or raw."),
    progress: str = typer.Option("median-steps", "--progress", help="median-steps (authors) or normalised-bins."),
    bins: int = typer.Option(10, "--bins", help="Bins of --progress normalised-bins."),
    seed: int = typer.Option(0, "--seed"),
    match_threshold: float = typer.Option(0.8, "--match-threshold", help="Rollout step-match similarity."),
    with_items: bool = typer.Option(False, "--items", help="Keep the per-code items in --json output."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Persistent embedding cache."),
    problems: Optional[str] = typer.Option(
        None, "--problems", help="Course or folder of problem specs (e.g. simstudent/scenarios/itap): grade ungraded "
        "submissions in the sandbox so error types and pass rates can be reported."),
) -> None:
    """Realism metrics of GENERATED against REAL - embedding metrics per (problem,
    stage) cell averaged over cells, functional, style, progress; rollouts and
    memorisation when the inputs allow - optionally beside the real-vs-real floor
    computed on exactly the same slots."""
    from pydantic import ValidationError

    from simstudent.data.errors import DataError
    from simstudent.errors import SimstudentError
    from simstudent.metrics.compare import MetricsConfig, compare
    from simstudent.metrics.conventions import Conventions
    from simstudent.metrics.inputs import load_input
    from simstudent.metrics.items import detect_mode
    from simstudent.metrics.rollout import RolloutMatchConfig, continuation_datasets, is_rollout, rollout_metrics

    if real is None or generated is None:
        fail("give REAL and GENERATED (the same dataset twice measures real against itself)")
    try:
        conv = Conventions(pass_rate=pass_rate, pep8=pep8, size=size, progress=progress)  # type: ignore[arg-type]
        cfg = MetricsConfig(embedder=None if embedder == "none" else embedder, bins=bins, seed=seed,
                            pairing=pairing, floor_repeats=repeats if floor else 0, cache=cache,  # type: ignore[arg-type]
                            conventions=conv)
    except ValidationError as exc:
        err = exc.errors()[0]
        fail(f"option {'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
    out: dict[str, Any] = {}

    def graded(ds):
        return _grade_in_place(ds, problems, quiet=as_json) if problems else ds

    try:
        real_in = load_input(real, skip_bad_rows=skip_bad_rows)
        gen_in = load_input(generated, skip_bad_rows=skip_bad_rows)
        graded(real_in.dataset)
        graded(gen_in.dataset)
        train_ds = load_input(train, skip_bad_rows=skip_bad_rows).dataset if train else None
        real_ds, gen_ds = real_in.dataset, gen_in.dataset
        rollouts = [t for t in gen_in.trajectories if is_rollout(t)]
        if rollouts:
            out["rollout"] = rollout_metrics(real_ds, rollouts, RolloutMatchConfig(match_threshold=match_threshold))
            if len(rollouts) == len(gen_in.trajectories):
                # Compare what was generated with what the students did after the prefix.
                real_ds, gen_ds = continuation_datasets(real_ds, rollouts)
        if cfg.pairing == "auto":
            cfg = cfg.model_copy(update={"pairing": detect_mode(
                real_ds, gen_ds, allow_slot=gen_in.kind != "trajectories")})
        result = compare(real_ds, gen_ds, cfg, train=train_ds, show_progress=not as_json)
    except DataError as exc:
        fail(str(exc))
    except SimstudentError as exc:
        fail(str(exc))
    if as_json:
        data = result.model_dump(mode="json", exclude=None if with_items else {"items"})
        data["config"] = cfg.model_dump(mode="json")
        data.update(out)
        print_json(data)
        return
    _print_tables(result)
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
