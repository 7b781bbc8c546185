"""``simstudent eval exp1|exp2|rollout`` and ``simstudent report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from simstudent.agent.student import StudentConfig
from simstudent.cli._common import USER_ERRORS, console, fail, one_line

_STUDENT = StudentConfig.model_fields  # the rollout's student options share its defaults and help

eval_app = typer.Typer(
    help="Run the paper's experiments (exp1, exp2) and closed-loop rollouts into a run folder.",
    no_args_is_help=True,
)

# Options shared by every eval command (typer has no option groups: defaults here).
_DATA = typer.Option(..., "--data", help="Dataset: ProgSnap2 folder, Dublin CSV or native JSONL.")
_SPLIT = typer.Option("test_NS_OP", "--split", help="test_NS_OP (new students, old problems) or test_NS_NP.")
_SPLIT_SEED = typer.Option(0, "--split-seed", help="Seed of the student/problem split (same as `simstudent train`).")
_TEST_FRAC = typer.Option(0.2, "--test-fraction", help="Share of students held out as test students.")
_PROB_FRAC = typer.Option(0.2, "--problem-fraction", help="Share of problems held out (test_NS_NP).")
_FOLD = typer.Option(None, "--itap-fold", help="Use ITAP's CV/FoldN/Test.csv students as the test students.")
_PROBLEMS = typer.Option(None, "--problems", help="Problem specs: a course under scenarios/ or a folder.")
_MAX_STREAMS = typer.Option(None, "--max-streams", min=1,
                            help="A seeded random subset of N test streams (small CPU runs).")
_MODEL = typer.Option("default", "--model", help="'default' (SmolLM2-135M-Instruct), a HF id or a local path.")
_ADAPTER = typer.Option(None, "--adapter", help="A LoRA adapter folder (or a name under adapters/).")
_BACKEND = typer.Option("hf", "--backend", help="hf | vllm | openai | copy-previous (exp2 baseline, no model)")
_BASE_URL = typer.Option(None, "--base-url", help="openai backend: URL of an OpenAI-compatible server.")
_TEMPLATE = typer.Option(None, "--template", help="Prompt template family (default: adapter's kind, else chat).")
_SAMPLES = typer.Option(1, "--samples", min=1, help="Completions per example.")
_LIMIT = typer.Option(None, "--limit", min=1, help="Only the first N examples (streams for rollout).")
_OUT = typer.Option(None, "--out", help="Run folder (default: runs/<exp>-<split>-<label>...).")
_BATCH = typer.Option(8, "--batch-size", min=1, help="Requests per backend call.")
_THREADS = typer.Option(None, "--threads", min=1, help="hf backend: torch CPU threads (default: torch's).")
_MAX_NEW = typer.Option(256, "--max-new-tokens", min=1, help="Token budget per completion.")
_SEED = typer.Option(0, "--seed", help="Sampling seed.")
_EMBEDDER = typer.Option("minilm", "--embedder", help="minilm (offline default) | tfidf | sfr-code")
_LABEL = typer.Option(None, "--label", help="Model name shown in the report's tables.")
_BINS = typer.Option(10, "--bins", min=1, help="Normalised-step bins of the progress curves (Fig. 4).")
_OVERWRITE = typer.Option(False, "--overwrite", help="Start over in an existing run folder.")
_QUIET = typer.Option(False, "--quiet", help="No progress bars.")
_RAY = typer.Option(None, "--ray", help=(
    "Generate through ray.data.llm with vLLM on GPU nodes, and grade and embed as Ray tasks on the same cluster: "
    "'local' (this machine), 'auto' (this machine's Ray cluster) or a cluster address. Needs pip install "
    "-e '.[ray-llm]' and a GPU."))
_SKIP = typer.Option(False, "--skip-bad-rows", help="Skip malformed rows of --data (counted, the first few named).")


def _data_cfg(data: str, split: str, split_seed: int, test_fraction: float, problem_fraction: float,
              itap_fold: Optional[int], problems: Optional[str], max_streams: Optional[int] = None,
              skip_bad_rows: bool = False):
    from simstudent.experiments.inputs import DataConfig

    if split not in ("test_NS_OP", "test_NS_NP"):
        fail(f"--split must be test_NS_OP or test_NS_NP, got {split!r}")
    return DataConfig(data=data, split=split, split_seed=split_seed, test_fraction=test_fraction,  # type: ignore[arg-type]
                      problem_fraction=problem_fraction, itap_fold=itap_fold, problems=problems,
                      max_streams=max_streams, skip_bad_rows=skip_bad_rows)


def _gen_cfg(model, adapter, backend, base_url, template, samples, batch_size, max_new_tokens, seed, threads=None):
    from simstudent.experiments.runner import GenerationConfig

    return GenerationConfig(model=model, adapter=adapter, backend=backend, base_url=base_url, template=template,
                            samples=samples, batch_size=batch_size, max_new_tokens=max_new_tokens, seed=seed,
                            num_threads=threads)


def _summary(metrics: dict, out: Path) -> None:
    from rich.table import Table

    t = Table(title=f"{metrics['kind']} {metrics['split']} - {metrics['label']}", show_lines=False)
    for col in ("group", "n gen", "KNN dist (cells)", "coverage (cells)", "cosine", "pass rate gen/real",
                "PEP 8 gen/real"):
        t.add_column(col)

    def f(x, d=3):
        return "n/a" if x is None else f"{x:.{d}f}"

    for g in metrics["groups"]:
        n = g.get("n_cells", 0)
        t.add_row(g["group"], str(g["n_gen"]), f"{f(g['knn_distance'])} ({g.get('n_cells_knn', 0)}/{n})",
                  f"{f(g['coverage'])} ({g.get('n_cells_coverage', 0)}/{n})",
                  f(g["cosine_distance"]["mean"]),
                  f"{f(g['pass_rate']['gen']['mean'], 2)} / {f(g['pass_rate']['real']['mean'], 2)}",
                  f"{f(g['pep8']['gen']['mean'], 1)} / {f(g['pep8']['real']['mean'], 1)}")
    console.print(t)
    console.print("n/a: no problem cell with at least 3 generated codes (KNN) / more than 10 real codes (coverage)")
    console.print(f"run folder: [bold]{out}[/]  (metrics.json, generations.jsonl, grades.jsonl)")


# Presentation-only flags: never part of a command that regenerates numbers.
_NOT_IN_COMMAND = {"overwrite", "quiet"}


def regenerate_command(sub: str, func, values: dict, out: Path) -> str:
    """The ``simstudent eval <sub>`` command that reproduces a run: every option
    whose value differs from its default (plus --data, --split and --out), built
    from the parsed options, so it is the same however the command was invoked."""
    import inspect
    import shlex

    parts = ["simstudent", "eval", sub]
    for name, param in inspect.signature(func).parameters.items():
        if name in _NOT_IN_COMMAND or name == "out":
            continue
        default = getattr(param.default, "default", param.default)
        value = values.get(name)
        if value == default and name not in ("data", "split"):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{name.replace('_', '-')}")
        elif value is not None:
            parts += [flag, str(value)]
    parts += ["--out", str(out)]
    return " ".join(shlex.quote(p) for p in parts)


def _default_out(kind: str, split: str, label: str, context: bool, k: Optional[int]) -> Path:
    tail = f"-k{k}" if k is not None else ""
    return Path("runs") / f"{kind}-{split}-{label}{tail}-{'ctx' if context else 'noctx'}"


def _use_ray(kw: dict) -> Any:
    """``--ray``: stop (exit 2) in one line without a GPU; otherwise generate with the
    Ray Data + vLLM backend on the named cluster. Returns the cluster's RayConfig (the
    grading and the embedding run there too, as Ray tasks)."""
    from simstudent.scale import RayConfig, RayUnavailable
    from simstudent.scale.llm import NoGPU, require_gpus

    address = None if kw["ray"] in ("", "local") else kw["ray"]
    try:
        require_gpus(RayConfig(address=address))
    except (NoGPU, RayUnavailable) as exc:
        fail(str(exc))
    kw["backend"] = "simstudent.scale.llm:RayDataLLMBackend"
    if address:
        kw["base_url"] = None  # not a server: the backend joins the cluster itself
    return RayConfig(address=address)


def _run_exp(exp: str, **kw) -> None:
    from simstudent.experiments.runner import ExperimentConfig, run_experiment

    ray_config = _use_ray(kw) if kw.get("ray") is not None else None
    try:
        cfg = ExperimentConfig(
            exp=exp,
            data=_data_cfg(kw["data"], kw["split"], kw["split_seed"], kw["test_fraction"], kw["problem_fraction"],
                           kw["itap_fold"], kw["problems"], kw["max_streams"], kw["skip_bad_rows"]),
            gen=_gen_cfg(kw["model"], kw["adapter"], kw["backend"], kw["base_url"], kw["template"], kw["samples"],
                         kw["batch_size"], kw["max_new_tokens"], kw["seed"], kw["threads"]),
            context=kw["context"], k=kw.get("k", 3), limit=kw["limit"], embedder=kw["embedder"],
            label=kw["label"], bins=kw.get("bins", 10),
        )
        out = Path(kw["out"]) if kw["out"] else _default_out(exp, cfg.data.split, cfg.run_label(), cfg.context,
                                                             cfg.k if exp == "exp2" else None)
        cfg.command = regenerate_command(exp, _exp1 if exp == "exp1" else _exp2, kw, out)
        grader = embedder = None  # the local ones
        if ray_config is not None:
            from simstudent.scale import RayEmbedder, RayGrader

            grader, embedder = RayGrader(ray_config), RayEmbedder(cfg.embedder, ray_config)
        metrics = run_experiment(cfg, out, grader=grader, embedder=embedder, overwrite=kw["overwrite"],
                                 show_progress=not kw["quiet"])
    except (*USER_ERRORS, FileNotFoundError) as exc:
        fail(one_line(exc))
    _summary(metrics, out)


def _exp1(
    data: str = _DATA, split: str = _SPLIT, split_seed: int = _SPLIT_SEED, test_fraction: float = _TEST_FRAC,
    problem_fraction: float = _PROB_FRAC, itap_fold: Optional[int] = _FOLD, problems: Optional[str] = _PROBLEMS,
    max_streams: Optional[int] = _MAX_STREAMS, skip_bad_rows: bool = _SKIP,
    context: bool = typer.Option(True, "--context/--no-context", help="Show the student's attempt on an earlier problem."),
    model: str = _MODEL, adapter: Optional[str] = _ADAPTER, backend: str = _BACKEND, base_url: Optional[str] = _BASE_URL,
    template: Optional[str] = _TEMPLATE, samples: int = _SAMPLES, limit: Optional[int] = _LIMIT,
    out: Optional[str] = _OUT, batch_size: int = _BATCH, threads: Optional[int] = _THREADS,
    max_new_tokens: int = _MAX_NEW, seed: int = _SEED,
    embedder: str = _EMBEDDER, label: Optional[str] = _LABEL, overwrite: bool = _OVERWRITE, quiet: bool = _QUIET,
    ray: Optional[str] = _RAY,
) -> None:
    """exp1 (low resolution): first / middle / last attempt of every test stream."""
    _run_exp("exp1", **locals())


def _exp2(
    data: str = _DATA, split: str = _SPLIT, split_seed: int = _SPLIT_SEED, test_fraction: float = _TEST_FRAC,
    problem_fraction: float = _PROB_FRAC, itap_fold: Optional[int] = _FOLD, problems: Optional[str] = _PROBLEMS,
    max_streams: Optional[int] = _MAX_STREAMS, skip_bad_rows: bool = _SKIP,
    context: bool = typer.Option(True, "--context/--no-context", help="Show k+1 attempts of an earlier problem."),
    k: int = typer.Option(3, "--k", min=1, help="Previous attempts shown (the paper: 1 or 3)."),
    model: str = _MODEL, adapter: Optional[str] = _ADAPTER, backend: str = _BACKEND, base_url: Optional[str] = _BASE_URL,
    template: Optional[str] = _TEMPLATE, samples: int = _SAMPLES, limit: Optional[int] = _LIMIT,
    out: Optional[str] = _OUT, batch_size: int = _BATCH, threads: Optional[int] = _THREADS,
    max_new_tokens: int = _MAX_NEW, seed: int = _SEED,
    embedder: str = _EMBEDDER, label: Optional[str] = _LABEL, bins: int = _BINS, overwrite: bool = _OVERWRITE,
    quiet: bool = _QUIET, ray: Optional[str] = _RAY,
) -> None:
    """exp2 (high resolution): every next attempt from the k real attempts before it."""
    _run_exp("exp2", **locals())


def _rollout(
    data: str = _DATA, split: str = _SPLIT, split_seed: int = _SPLIT_SEED, test_fraction: float = _TEST_FRAC,
    problem_fraction: float = _PROB_FRAC, itap_fold: Optional[int] = _FOLD, problems: Optional[str] = _PROBLEMS,
    max_streams: Optional[int] = _MAX_STREAMS, skip_bad_rows: bool = _SKIP,
    context: bool = typer.Option(True, "--context/--no-context", help="Show the student's work on an earlier problem."),
    prefix: int = typer.Option(2, "--prefix", min=0, help="Real attempts injected before the model takes over (0: from scratch)."),
    min_attempts: int = typer.Option(1, "--min-attempts", min=1, help="Only streams with at least this many real attempts."),
    ignore_failing_submit: bool = typer.Option(
        _STUDENT["ignore_failing_submit"].default, "--ignore-failing-submit/--stop-at-submit",
        help=_STUDENT["ignore_failing_submit"].description),
    redraw_repeats: int = typer.Option(_STUDENT["redraw_repeats"].default, "--redraw-repeats", min=0,
                                       help=_STUDENT["redraw_repeats"].description),
    max_new_attempts: int = typer.Option(6, "--max-new-attempts", min=1, help="Generated attempts at most."),
    k: Optional[int] = typer.Option(None, "--k", min=1, help="exp2-template adapters: attempts shown (default: the adapter's)."),
    model: str = _MODEL, adapter: Optional[str] = _ADAPTER, backend: str = _BACKEND, base_url: Optional[str] = _BASE_URL,
    template: Optional[str] = _TEMPLATE, limit: Optional[int] = _LIMIT, out: Optional[str] = _OUT,
    batch_size: int = _BATCH, threads: Optional[int] = _THREADS, max_new_tokens: int = _MAX_NEW,
    seed: int = _SEED, embedder: str = _EMBEDDER,
    label: Optional[str] = _LABEL, bins: int = _BINS, overwrite: bool = _OVERWRITE, quiet: bool = _QUIET,
) -> None:
    """Closed loop: the SimulatedStudent continues real streams from their first attempts."""
    from simstudent.experiments.rollout import RolloutConfig, run_rollouts
    try:
        cfg = RolloutConfig(
            data=_data_cfg(data, split, split_seed, test_fraction, problem_fraction, itap_fold, problems,
                           max_streams, skip_bad_rows),
            gen=_gen_cfg(model, adapter, backend, base_url, template, 1, batch_size, max_new_tokens, seed, threads),
            context=context, prefix=prefix, min_attempts=min_attempts, max_new_attempts=max_new_attempts,
            ignore_failing_submit=ignore_failing_submit, redraw_repeats=redraw_repeats, limit=limit, embedder=embedder,
            label=label, k=k, bins=bins,
        )
        folder = Path(out) if out else _default_out("rollout", split, cfg.run_label(), context, None)
        cfg.command = regenerate_command("rollout", _rollout, locals(), folder)
        metrics = run_rollouts(cfg, folder, overwrite=overwrite, show_progress=not quiet)
    except (*USER_ERRORS, FileNotFoundError) as exc:
        fail(one_line(exc))
    _summary(metrics, folder)
    ro = metrics.get("rollout") or {}
    if ro:
        console.print(
            f"rollouts: {ro['n_streams']}  step coverage {ro['coverage']['mean']}  "
            f"grade proximity {ro['grade_proximity']['mean']}  CodeBLEU-like {ro['codebleu']['mean']}"
        )
        fmt = lambda x: "-" if x is None else f"{x:.2f}"  # noqa: E731
        cg, cr = ro.get("copies_gen") or {}, ro.get("copies_real") or {}
        console.print(
            f"attempts {fmt(ro['attempts_gen']['mean'])} (real {fmt(ro['attempts_real']['mean'])})  "
            f"final pass rate {fmt(ro['final_pass_gen']['mean'])} (real {fmt(ro['final_pass_real']['mean'])})  "
            f"copies {fmt(cg.get('copy_share'))} (real {fmt(cr.get('copy_share'))})"
        )


eval_app.command("exp1")(_exp1)
eval_app.command("exp2")(_exp2)
eval_app.command("rollout")(_rollout)


def report(
    runs: List[str] = typer.Argument(..., help="Run folders (or metrics.json files)."),
    out: str = typer.Option("report", "--out", help="Folder for index.html, README.md and the figures."),
    title: str = typer.Option("simstudent evaluation report", "--title"),
    notes: Optional[str] = typer.Option(None, "--notes", help="A Markdown file shown at the top of the page."),
) -> None:
    """Tables (paper Tab. 1-3 + closed loop) and figures (Fig. 2-4) from finished runs."""
    from simstudent.errors import SimstudentError
    from simstudent.experiments.report import build_report

    for run in runs:  # a cohort has no metrics to tabulate: its attempts are for the viewer
        if (Path(run) / "cohort.json").is_file() or (Path(run) / "attempts.jsonl").is_file():
            fail(f"{run} is a cohort folder, not an eval run: see it with `simstudent view {run} --out DIR`")
    try:
        rep = build_report(runs, out, title=title, notes=notes)
    except (SimstudentError, FileNotFoundError) as exc:
        fail(str(exc))
    console.print(f"[bold]{len(rep.tables)}[/] tables, [bold]{len(rep.figures)}[/] figures from {len(rep.runs)} runs")
    for w in rep.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    console.print(f"wrote {rep.html_path} and {rep.md_path}")


def register(app: typer.Typer) -> None:
    """Add ``eval`` (exp1|exp2|rollout) and ``report`` to the top-level app."""
    app.add_typer(eval_app, name="eval")
    app.command("report")(report)
