"""``simstudent run`` (one simulated student, live), ``simstudent cohort`` (many,
batched, resumable; optionally with a tutor, or compared without/with one) and
``simstudent cohort-report`` (a cohort folder's summary and degeneration figures).

``run`` and ``cohort`` share their options (declared once, in ``_student_options``);
help texts come from the config models' field descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from simstudent.cli._common import USER_ERRORS, console, err_console, fail, one_line, print_json
from simstudent.cli._student_options import StudentOptions, flag, with_student_options
from simstudent.errors import InputError, NotFoundError, SimstudentError
from simstudent.models.errors import BackendError


def _load_data(data: Optional[Path], skip_bad_rows: bool = False) -> tuple[Any, dict[str, Any]]:
    """(dataset, {name: dataset}) for --data, or (None, {}); the importer's notes and
    repairs are printed."""
    if data is None:
        return None, {}
    from simstudent.agent.personas import dataset_names
    from simstudent.cli.data import load_for_cli, print_provenance

    dataset = load_for_cli(data, None, skip_bad_rows)
    print_provenance(dataset, err_console)
    return dataset, {n: dataset for n in dataset_names(dataset, data)}


def _problem(problem_id: str, data: Optional[Path]) -> Any:
    from simstudent.problems import find_problem

    if data is not None and "/" not in problem_id:
        try:  # a dataset's problems are specified under simstudent/scenarios/itap (the only real course)
            return find_problem(f"itap/{problem_id}")
        except NotFoundError:
            pass
    return find_problem(problem_id)


def _server_adapter_name(cfg: Any, backend: str) -> None:
    """Check ``--adapter`` before any model loads. A local backend needs a complete
    adapter folder trained on this base model; a server knows an adapter by name, not
    by our folder: send the name recorded in its simstudent.json (start vLLM with
    ``--lora-modules <name>=<folder>``)."""
    if not cfg.adapter:
        return
    from simstudent.models.adapters import load_adapter_meta, resolve_adapter, validate_adapter

    if backend != "openai":
        validate_adapter(cfg.adapter, cfg.model or None)
        return
    try:
        folder = resolve_adapter(cfg.adapter)
    except FileNotFoundError:
        return  # already a server-side name
    cfg.adapter_name = load_adapter_meta(folder).name


def _gap_sampler(cfg: Any, dataset: Any, data: Optional[Path]) -> Any:
    """The gap sampler: --gaps, else --data's real gaps when it has timestamps (then
    recorded in the config as the gap source), else None (the default lognormal)."""
    from simstudent.agent.timing import GapSampler

    if cfg.gap_source:
        return GapSampler.from_dataset(cfg.gap_source, max_gap_s=cfg.max_gap_s)
    if dataset is None:
        return None
    try:
        sampler = GapSampler.from_dataset(dataset)
    except InputError:  # no timestamps (e.g. Dublin): keep the default distribution
        return None
    cfg.gap_source = str(data)
    return sampler


@with_student_options
def run_cmd(
    *,
    problem: str = typer.Option(..., "--problem", help="Problem id (e.g. hw04_q2) or course/id."),
    persona: str = typer.Option(..., "--persona", help="Persona: a bundled one (student_123), or with --data a "
                                "student id or <dataset>:<id> (e.g. itap:S002)."),
    opts: StudentOptions,  # --data ... --keep-going (see _student_options)
    out: Optional[Path] = typer.Option(None, "--out", help="Trajectory JSON, rewritten after every attempt "
                                       "(default runs/run-<problem>-<persona>-<seed>.json)."),
    as_json: bool = flag("--json", "Print the trajectory JSON to stdout instead of panels."),
) -> None:
    """Watch one simulated student work one problem: attempt, grade, feedback, again."""
    from simstudent.agent.personas import resolve_persona
    from simstudent.agent.student import SimulatedStudent
    from simstudent.cli._agent_view import show_attempt
    from simstudent.data.jsonl import write_json_atomic
    from simstudent.grader import Grader

    try:
        dataset, named = _load_data(opts.data, opts.skip_bad_rows)
        prob = _problem(problem, opts.data)
        pers = resolve_persona(persona, named)
        cfg = opts.student_config(save_prompts=True)
        _server_adapter_name(cfg, opts.backend)
        sampler = _gap_sampler(cfg, dataset, opts.data)
        with err_console.status(f"loading model {opts.model!r} ({opts.backend})"):
            be = opts.make_backend()
    except USER_ERRORS as exc:
        fail(one_line(exc))
    out = out or Path("runs") / f"run-{prob.id.replace('/', '_')}-{pers.id.replace(':', '_')}-{opts.seed}.json"
    with Grader() as grader:
        student = SimulatedStudent(be, grader, pers, cfg, gaps=sampler)
        if not as_json:
            adapter = f"adapter {cfg.adapter_name or cfg.adapter}" if cfg.adapter else "no adapter"
            console.rule(f"[bold]{pers.id}[/] works [bold]{prob.id}[/] {prob.title}")
            console.print(f"model {opts.model}, {adapter}, template {student.template.name}, seed {opts.seed}")
        student.start(prob)
        previous = None
        try:
            while not student.done:
                with err_console.status(f"attempt {len(student.trajectory.attempts) + 1}: generating"):
                    try:
                        attempt = student.next_attempt()
                    except BackendError as exc:
                        err_console.print(f"[red]{exc}[/]")
                        break
                    finally:  # on disk as it goes: an interrupt keeps every attempt made
                        write_json_atomic(out, student.trajectory)
                if not as_json:
                    show_attempt(attempt, previous)
                previous = attempt
        except KeyboardInterrupt:
            n = len(student.trajectory.attempts)
            err_console.print(f"interrupted: the {n} attempt(s) made are in {out}")
            raise SystemExit(130)
    traj = student.trajectory
    if as_json:
        print_json(traj.model_dump(mode="json"))
        return
    last = traj.attempts[-1] if traj.attempts else None
    if last is None or last.grade is None:
        final = "no attempt"
    else:
        verdict = "cut by the token limit" if last.truncated else last.grade.error_type
        final = f"{verdict}, {last.grade.passed}/{last.grade.total} tests"
    console.print(f"stopped: [bold]{traj.stop_reason}[/] after {len(traj.attempts)} attempt(s); "
                  f"final: {final}; trajectory written to {out}")
    if traj.stop_reason == "error":
        raise SystemExit(1)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@with_student_options
def cohort_cmd(
    *,
    problems: str = typer.Option(..., "--problems", help="Comma-separated problem ids."),
    personas: str = typer.Option(..., "--personas", help="Comma-separated personas ('all' = every bundled one); "
                                 "with --data also student ids or <dataset>:<id> (e.g. itap:S002)."),
    out: Path = typer.Option(..., "--out", help="Output folder (rerun the same command to resume)."),
    n_per_persona: int = typer.Option(1, "--n-per-persona", min=1, help="Simulated students per persona."),
    opts: StudentOptions,  # --data ... --keep-going (see _student_options)
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="hf backend: sequences per forward pass."),
    tutor: Optional[str] = typer.Option(None, "--tutor", help="A registered tutor (rule_based) hints before each attempt."),
    compare: bool = flag("--compare", "With --tutor: run without and with it (same seeds) and compare."),
    export: Optional[str] = typer.Option(None, "--export", help="Also write progsnap2 (OUT/progsnap2/) or jsonl (OUT/cohort.jsonl)."),
    save_prompts: bool = flag("--save-prompts", "Store each attempt's prompt in attempts.jsonl."),
    no_progress: bool = flag("--no-progress", "No progress bar."),
    as_json: bool = flag("--json", "Print the outcome summary as JSON."),
    ray: Optional[str] = typer.Option(None, "--ray", help=(
        "Split the students across Ray actors: 'local' starts a Ray cluster here, 'auto' joins this "
        "machine's cluster, or a cluster address (ray://host:10001). Needs pip install -e '.[ray]'.")),
    ray_workers: int = typer.Option(2, "--ray-workers", min=1, help="With --ray: actors (each a backend and a grader pool)."),
) -> None:
    """Many simulated students x problems, batched (continuously on the hf backend); resumable."""
    from simstudent.agent.cohort import Cohort, CohortConfig, CohortError
    from simstudent.agent.personas import resolve_persona
    from simstudent.agent.tutor import TUTORS, compare_with_tutor, get_tutor
    from simstudent.cli._agent_view import finish_cohort, print_comparison
    from simstudent.grader import Grader

    if export not in (None, "progsnap2", "jsonl"):
        fail(f"--export must be progsnap2 or jsonl, not {export!r}")
    if compare and not tutor:
        fail("--compare needs --tutor NAME")
    if tutor and tutor not in TUTORS:
        fail(f"unknown tutor {tutor!r}; known: {', '.join(TUTORS.names())}")
    if ray is not None and (tutor or compare):
        fail("--tutor/--compare cannot run on Ray yet; drop --ray")
    try:
        dataset, named = _load_data(opts.data, opts.skip_bad_rows)
        pids = _split(problems)
        if personas.strip() == "all" and dataset is None:
            from simstudent.problems import list_personas

            persona_ids = list_personas()
        else:
            persona_ids = _split(personas)
        probs = {p.id: p for p in (_problem(pid, opts.data) for pid in pids)}
        pers = [resolve_persona(p, named) for p in persona_ids]
        cfg = CohortConfig(
            problems=list(probs), personas=persona_ids, n_per_persona=n_per_persona,
            tutor=None if compare else tutor, data=str(opts.data) if opts.data else None,
            student=opts.student_config(save_prompts=save_prompts))
        _server_adapter_name(cfg.student, opts.backend)
        sampler = _gap_sampler(cfg.student, dataset, opts.data)
        if ray is not None:
            from simstudent.cli.scale import cohort_on_ray

            return cohort_on_ray(ray, ray_workers, opts.backend_config(batch_size), probs, pers, cfg, out,
                                 sampler, export=export, progress=not no_progress, as_json=as_json)
        dtype = opts.dtype
        if compare and opts.backend == "hf" and dtype is None:
            # Paired arms: in bf16 a sample can depend on which requests share its batch, and the
            # tutor arm's batches differ from the other arm's; fp32 keeps the arms paired.
            dtype = "fp32"
            err_console.print("--compare: fp32 weights, so both arms sample identically (--dtype to change)")
        with err_console.status(f"loading model {opts.model!r} ({opts.backend})"):
            be = opts.make_backend(batch_size, dtype)
    except USER_ERRORS as exc:
        fail(one_line(exc))
    progress = not no_progress
    try:
        with Grader() as grader:
            if compare:
                assert tutor is not None
                result = compare_with_tutor(probs, pers, tutor, backend=be, grader=grader, config=cfg,
                                            out_dir=out, progress=progress, console=err_console, gaps=sampler)
                if as_json:
                    print_json(result.model_dump(mode="json"))
                else:
                    print_comparison(result)
                return
            cohort = Cohort(be, grader, probs, pers, cfg, out, tutor=get_tutor(tutor) if tutor else None,
                            gaps=sampler)
            trajs = cohort.run(progress=progress, console=err_console)
    except CohortError as exc:
        fail(str(exc))
    except BackendError as exc:
        fail(f"backend failed: {exc}; every attempt so far is in {out}: rerun the same command to resume")
    finish_cohort(trajs, cohort.notes, out, probs, export=export, as_json=as_json)


def cohort_report_cmd(
    folder: Path = typer.Argument(..., help="A cohort folder (written by simstudent cohort)."),
    as_json: bool = flag("--json", "Print the summary and degeneration figures as JSON."),
) -> None:
    """Summary of a cohort folder's finished trajectories (stop reasons, pass rates,
    attempts) and degeneration figures over every attempt on disk: the share that repeat
    a line or block 3+ times in a row, that were cut by the token limit, and that define
    the required function. Works on a cohort still running or interrupted."""
    from simstudent.agent.cohort import (ATTEMPTS_FILE, AttemptRecord, load_cohort_config,
                                         load_trajectories, read_records)
    from simstudent.agent.summary import summarise
    from simstudent.cli._agent_view import degeneration_lines, summary_table
    from simstudent.metrics.degeneration import degeneration

    try:
        cfg = load_cohort_config(folder)
        trajs = load_trajectories(folder)
        attempts = read_records(folder / ATTEMPTS_FILE, AttemptRecord)  # finished trajectories or not
    except SimstudentError as exc:
        fail(one_line(exc))
    data = Path(cfg.data) if cfg.data else None
    names: dict[str, Optional[str]] = {}
    for pid in cfg.problems:
        try:
            names[pid] = _problem(pid, data).function_name
        except NotFoundError:
            names[pid] = None  # spec not installed here: the function share leaves it out
    report = degeneration((a.completion, a.code, a.finish_reason, names.get(a.problem_id)) for a in attempts)
    if as_json:
        print_json({"summary": summarise(trajs).model_dump(mode="json"),
                    "degeneration": {**report.model_dump(), "shares": report.shares()}})
        return
    console.print(summary_table(trajs, f"cohort {folder}: {len(trajs)} finished trajectories"))
    console.print(f"degeneration, over all {report.attempts} attempts on disk:")
    for line in degeneration_lines(report):
        console.print(line)


def register(app: typer.Typer) -> None:
    """Add ``run``, ``cohort`` and ``cohort-report`` to the top-level app."""
    app.command("run")(run_cmd)
    app.command("cohort")(cohort_cmd)
    app.command("cohort-report")(cohort_report_cmd)
