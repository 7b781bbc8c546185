"""``simstudent run`` (one simulated student, live) and ``simstudent cohort`` (many,
batched, resumable; optionally with a tutor, or compared without/with one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from pydantic import ValidationError

from simstudent.cli._common import console, err_console, fail, one_line, print_json
from simstudent.errors import InputError, NotFoundError, SimstudentError
from simstudent.models.errors import BackendError

_BACKEND_HELP = ("Generation backend: hf (transformers, CPU/GPU), vllm, openai (any OpenAI-compatible "
                 "server, e.g. `vllm serve ... --enable-lora`), or package.module:Class.")
_MODEL_HELP = "Model: 'default' (offline SmolLM2-135M-Instruct), a Hugging Face id/path, or a server's model name."
_ADAPTER_HELP = "LoRA adapter folder (its simstudent.json picks the prompt template) or a name the server knows."
_SKIP_HELP = "With --data: skip malformed rows (counted, the first few named) instead of stopping at the first."
_DATA_HELP = "A dataset (ProgSnap2 folder, CSV, JSONL): personas are its students (e.g. --data ../shared/data/itap)."
_TEMPLATE_HELP = "Prompt template (chat-loop, ft-loop, ft-exp2-ctx, ...); default: the adapter's, else chat-loop."
_THREADS_HELP = ("hf backend: CPU threads for torch (default: half the cores, at least 1; torch's "
                 "spinning threads slow down many times over when they compete with the grader or other jobs).")
_GAPS_HELP = "Dataset whose real inter-submission gaps time the attempts (default: lognormal, median 60 s)."


def make_backend(backend: str, model: str, base_url: Optional[str] = None,
                 batch_size: Optional[int] = None, threads: Optional[int] = None) -> Any:
    """A backend by registry name, or ``package.module:Class`` for your own (see
    :func:`simstudent.models.build_backend`). Adapters travel with each request."""
    from simstudent.models import BackendConfig, build_backend

    return build_backend(BackendConfig(backend=backend, model=model, base_url=base_url,
                                       batch_size=batch_size, num_threads=threads))


def _persona(persona_id: str, dataset: Any) -> Any:
    from simstudent.problems import load_persona
    from simstudent.schema import Persona

    return Persona.from_dataset(dataset, persona_id) if dataset is not None else load_persona(persona_id)


def _load_data(data: Path, skip_bad_rows: bool) -> Any:
    from simstudent.cli.data import load_for_cli, print_provenance

    dataset = load_for_cli(data, None, skip_bad_rows)
    print_provenance(dataset, err_console)
    return dataset


def _problem(problem_id: str, data: Optional[Path]) -> Any:
    from simstudent.problems import find_problem

    if data is not None and "/" not in problem_id:
        try:  # a dataset's problems are specified under simstudent/scenarios/itap (the only real course)
            return find_problem(f"itap/{problem_id}")
        except NotFoundError:
            pass
    return find_problem(problem_id)


def _student_config(*, model: str, adapter: Optional[str], template: Optional[str], max_attempts: int,
                    seed: int, temperature: Optional[float], max_new_tokens: int, gaps: Optional[Path],
                    save_prompts: bool, no_context: bool, stop_on_pass: bool) -> Any:
    from simstudent.agent.prompting import PromptSettings
    from simstudent.agent.student import StudentConfig
    from simstudent.models.base import SamplingParams

    sampling = SamplingParams(max_new_tokens=max_new_tokens)
    if temperature is not None:
        sampling.temperature = temperature
    return StudentConfig(template=template, adapter=adapter, model=model, max_attempts=max_attempts,
                         seed=seed, sampling=sampling, gap_source=str(gaps) if gaps else None,
                         save_prompts=save_prompts, prompt=PromptSettings(context=not no_context),
                         stop_on_pass=stop_on_pass)


def _server_adapter_name(cfg: Any, backend: str) -> None:
    """A server knows an adapter by name, not by our folder: send the name recorded in
    its simstudent.json (start vLLM with ``--lora-modules <name>=<folder>``)."""
    if backend != "openai" or not cfg.adapter:
        return
    from simstudent.models.adapters import load_adapter_meta, resolve_adapter

    try:
        folder = resolve_adapter(cfg.adapter)
    except FileNotFoundError:
        return  # already a server-side name
    cfg.adapter_name = load_adapter_meta(folder).name


def _data_gaps(cfg: Any, dataset: Any, data: Optional[Path]) -> Any:
    """With --data and no --gaps, time attempts by that dataset's real gaps (recorded
    in the config as the gap source)."""
    if dataset is None or cfg.gap_source:
        return None
    from simstudent.agent.timing import GapSampler

    try:
        sampler = GapSampler.from_dataset(dataset)
    except InputError:  # no timestamps (e.g. Dublin): keep the default distribution
        return None
    cfg.gap_source = str(data)
    return sampler


def _show_attempt(attempt: Any, previous: Optional[Any]) -> None:
    import Levenshtein
    from rich.panel import Panel
    from rich.syntax import Syntax
    from rich.text import Text
    from rich.console import Group

    g = attempt.grade
    colour = {"no_error": "green", "logical": "yellow", "runtime": "red", "compile": "magenta"}.get(
        g.error_type if g else "", "white")
    dist = "-" if previous is None else str(Levenshtein.distance(previous.code, attempt.code))
    title = (f"attempt {attempt.index + 1}  [{colour}]{g.error_type if g else 'ungraded'}[/]  "
             f"passed {g.passed}/{g.total} ({100 * g.pass_rate:.0f} %)  edit distance {dist}"
             + ("  [bold]<SUBMIT>[/]" if attempt.submitted else "")) if g else f"attempt {attempt.index + 1}"
    parts: list[Any] = []
    if attempt.hint:
        parts.append(Text(f"hint shown: {attempt.hint}", style="cyan"))
    code = attempt.code if attempt.code.strip() else "# (no code in the completion)"
    parts.append(Syntax(code, "python", line_numbers=False, word_wrap=True))
    if g and g.feedback:
        parts.append(Text(g.feedback.strip(), style="dim"))
    console.print(Panel(Group(*parts), title=title, title_align="left", border_style=colour))


def run_cmd(
    problem: str = typer.Option(..., "--problem", help="Problem id (e.g. hw04_q2) or course/id."),
    persona: str = typer.Option(..., "--persona", help="Persona id (simstudent/scenarios/personas) or, with --data, a student id."),
    data: Optional[Path] = typer.Option(None, "--data", help=_DATA_HELP),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help=_SKIP_HELP),
    model: str = typer.Option("default", "--model", help=_MODEL_HELP),
    adapter: Optional[str] = typer.Option(None, "--adapter", help=_ADAPTER_HELP),
    backend: str = typer.Option("hf", "--backend", help=_BACKEND_HELP),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Server URL for --backend openai."),
    template: Optional[str] = typer.Option(None, "--template", help=_TEMPLATE_HELP),
    max_attempts: int = typer.Option(8, "--max-attempts", min=1, help="Stop after this many attempts."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling and timestamps."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (default 0.7)."),
    max_new_tokens: int = typer.Option(192, "--max-new-tokens", min=1, help="Tokens per attempt at most."),
    gaps: Optional[Path] = typer.Option(None, "--gaps", help=_GAPS_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help=_THREADS_HELP),
    no_context: bool = typer.Option(False, "--no-context", help="Do not show the persona's past work."),
    keep_going: bool = typer.Option(False, "--keep-going", help="Do not stop when all tests pass (only at <SUBMIT>, stall, max)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Trajectory JSON (default runs/run-<problem>-<persona>-<seed>.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the trajectory JSON to stdout instead of panels."),
) -> None:
    """Watch one simulated student work one problem: attempt, grade, feedback, again."""
    from simstudent.agent.student import SimulatedStudent
    from simstudent.grader import Grader

    try:
        dataset = None
        if data is not None:
            dataset = _load_data(data, skip_bad_rows)
        prob = _problem(problem, data)
        pers = _persona(persona, dataset)
        cfg = _student_config(model=model, adapter=adapter, template=template, max_attempts=max_attempts,
                              seed=seed, temperature=temperature, max_new_tokens=max_new_tokens, gaps=gaps,
                              save_prompts=True, no_context=no_context, stop_on_pass=not keep_going)
        _server_adapter_name(cfg, backend)
        with err_console.status(f"loading model {model!r} ({backend})"):
            be = make_backend(backend, model, base_url, threads=threads)
    except (SimstudentError, ValidationError, FileNotFoundError) as exc:
        fail(one_line(exc))
    out = out or Path("runs") / f"run-{prob.id}-{pers.id}-{seed}.json"
    sampler = _data_gaps(cfg, dataset, data)
    with Grader() as grader:
        student = SimulatedStudent(be, grader, pers, cfg, gaps=sampler)
        if not as_json:
            console.rule(f"[bold]{pers.id}[/] works [bold]{prob.id}[/] {prob.title}  "
                         f"(model {model}, template {student.template.name}, seed {seed})")
        student.start(prob)
        previous = None
        while not student.done:
            with err_console.status(f"attempt {len(student.trajectory.attempts) + 1}: generating"):
                try:
                    attempt = student.next_attempt()
                except BackendError as exc:
                    err_console.print(f"[red]{exc}[/]")
                    break
            if not as_json:
                _show_attempt(attempt, previous)
            previous = attempt
    traj = student.trajectory
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(traj.model_dump_json(indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(traj.model_dump(mode="json"))
        return
    last = traj.attempts[-1].grade if traj.attempts else None
    final = f"{last.error_type}, {last.passed}/{last.total} tests" if last else "no attempt"
    console.print(f"stopped: [bold]{traj.stop_reason}[/] after {len(traj.attempts)} attempt(s); "
                  f"final: {final}; trajectory written to {out}")
    if traj.stop_reason == "error":
        raise SystemExit(1)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cohort_cmd(
    problems: str = typer.Option(..., "--problems", help="Comma-separated problem ids."),
    personas: str = typer.Option(..., "--personas", help="Comma-separated persona ids ('all' = every bundled persona) or, with --data, student ids."),
    out: Path = typer.Option(..., "--out", help="Output folder (rerun the same command to resume)."),
    n_per_persona: int = typer.Option(1, "--n-per-persona", min=1, help="Simulated students per persona."),
    data: Optional[Path] = typer.Option(None, "--data", help=_DATA_HELP),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help=_SKIP_HELP),
    model: str = typer.Option("default", "--model", help=_MODEL_HELP),
    adapter: Optional[str] = typer.Option(None, "--adapter", help=_ADAPTER_HELP),
    backend: str = typer.Option("hf", "--backend", help=_BACKEND_HELP),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Server URL for --backend openai."),
    template: Optional[str] = typer.Option(None, "--template", help=_TEMPLATE_HELP),
    max_attempts: int = typer.Option(8, "--max-attempts", min=1),
    seed: int = typer.Option(0, "--seed"),
    temperature: Optional[float] = typer.Option(None, "--temperature"),
    max_new_tokens: int = typer.Option(192, "--max-new-tokens", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="hf backend: sequences per forward pass."),
    gaps: Optional[Path] = typer.Option(None, "--gaps", help=_GAPS_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help=_THREADS_HELP),
    tutor: Optional[str] = typer.Option(None, "--tutor", help="A registered tutor (rule_based) hints before each attempt."),
    compare: bool = typer.Option(False, "--compare", help="With --tutor: run without and with it (same seeds) and compare."),
    export: Optional[str] = typer.Option(None, "--export", help="Also write progsnap2 (OUT/progsnap2/) or jsonl (OUT/cohort.jsonl)."),
    save_prompts: bool = typer.Option(False, "--save-prompts", help="Store each attempt's prompt in attempts.jsonl."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome summary as JSON."),
) -> None:
    """Many simulated students x problems, one batched generate call per step; resumable."""
    from simstudent.agent.cohort import Cohort, CohortConfig, CohortError
    from simstudent.agent.export import export_jsonl, export_progsnap2
    from simstudent.agent.tutor import TUTORS, compare_with_tutor, get_tutor, summarise
    from simstudent.grader import Grader

    if export not in (None, "progsnap2", "jsonl"):
        fail(f"--export must be progsnap2 or jsonl, not {export!r}")
    if compare and not tutor:
        fail("--compare needs --tutor NAME")
    if tutor and tutor not in TUTORS:
        fail(f"unknown tutor {tutor!r}; known: {', '.join(TUTORS.names())}")
    try:
        dataset = None
        if data is not None:
            dataset = _load_data(data, skip_bad_rows)
        pids = _split(problems)
        if personas.strip() == "all" and dataset is None:
            from simstudent.problems import list_personas

            persona_ids = list_personas()
        else:
            persona_ids = _split(personas)
        probs = {p.id: p for p in (_problem(pid, data) for pid in pids)}
        pers = [_persona(p, dataset) for p in persona_ids]
        cfg = CohortConfig(
            problems=list(probs), personas=persona_ids, n_per_persona=n_per_persona,
            tutor=None if compare else tutor, data=str(data) if data else None,
            student=_student_config(model=model, adapter=adapter, template=template, max_attempts=max_attempts,
                                    seed=seed, temperature=temperature, max_new_tokens=max_new_tokens,
                                    gaps=gaps, save_prompts=save_prompts, no_context=False, stop_on_pass=True))
        _server_adapter_name(cfg.student, backend)
        with err_console.status(f"loading model {model!r} ({backend})"):
            be = make_backend(backend, model, base_url, batch_size, threads)
    except (SimstudentError, ValidationError, FileNotFoundError) as exc:
        fail(one_line(exc))
    progress = not no_progress
    sampler = _data_gaps(cfg.student, dataset, data)
    try:
        with Grader() as grader:
            if compare:
                assert tutor is not None
                result = compare_with_tutor(probs, pers, tutor, backend=be, grader=grader, config=cfg,
                                            out_dir=out, progress=progress, console=err_console, gaps=sampler)
                _print_comparison(result, as_json)
                return
            cohort = Cohort(be, grader, probs, pers, cfg, out, tutor=get_tutor(tutor) if tutor else None,
                            gaps=sampler)
            trajs = cohort.run(progress=progress, console=err_console)
    except CohortError as exc:
        fail(str(exc))
    except BackendError as exc:
        fail(f"backend failed: {exc}; every attempt so far is in {out}: rerun the same command to resume")
    for note in cohort.notes:
        err_console.print(f"[dim]{note}[/]")
    if export == "progsnap2":
        where = export_progsnap2(trajs, out / "progsnap2")
        err_console.print(f"exported ProgSnap2 to {where}")
    elif export == "jsonl":
        where = export_jsonl(trajs, out / "cohort.jsonl", probs, name=out.name)
        err_console.print(f"exported JSONL dataset to {where}")
    summary = summarise(trajs)
    if as_json:
        print_json(summary.model_dump(mode="json"))
        return
    console.print(f"{summary.trajectories} trajectories, {summary.attempts} attempts; pass rate "
                  f"{100 * summary.pass_rate:.1f} %, give-up rate {100 * summary.give_up_rate:.1f} %; "
                  f"stop reasons: {summary.stop_reasons}; written to {out}")


def _print_comparison(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    from rich.table import Table

    table = Table(title=f"without vs with tutor {result.tutor!r}")
    table.add_column("measure")
    table.add_column("without", justify="right")
    table.add_column(f"with {result.tutor}", justify="right")
    for row in result.table_rows():
        table.add_row(*row)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``cohort`` to the top-level app."""
    app.command("run")(run_cmd)
    app.command("cohort")(cohort_cmd)
