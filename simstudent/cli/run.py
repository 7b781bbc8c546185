"""``simstudent run`` (one simulated student, live), ``simstudent cohort`` (many,
batched, resumable; optionally with a tutor, or compared without/with one) and
``simstudent cohort-report`` (a cohort folder's summary and degeneration figures).

``run`` and ``cohort`` share their options (defined once below); help texts come
from the config models' field descriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from pydantic import ValidationError

from simstudent.agent.student import DEFAULT_MAX_NEW_TOKENS, DEFAULT_STOP_REPEATS, StudentConfig
from simstudent.cli._common import console, err_console, fail, one_line, print_json
from simstudent.errors import InputError, NotFoundError, SimstudentError
from simstudent.models.base import SamplingParams
from simstudent.models.errors import BackendError

_F = StudentConfig.model_fields
_SAMPLING = SamplingParams()


def _flag(name: str, help: str) -> Any:
    # metavar="" keeps typer from printing a "<bool>" type next to an on/off flag.
    return typer.Option(False, name, help=help, metavar="")


# ---------------------------------------------------------------- options shared by run and cohort
DATA = typer.Option(None, "--data", help="A dataset (ProgSnap2 folder, CSV, JSONL) whose students can be personas "
                    "(plain id, or <dataset>:<id> such as itap:S002), e.g. --data ../shared/data/itap.")
SKIP_BAD_ROWS = typer.Option(False, "--skip-bad-rows", metavar="", help="With --data: skip malformed rows "
                             "(counted, the first few named) instead of stopping at the first.")
MODEL = typer.Option("default", "--model", help="Model: 'default' (offline SmolLM2-135M-Instruct), a Hugging Face "
                     "id/path, or a server's model name.")
ADAPTER = typer.Option(None, "--adapter", help=_F["adapter"].description)
BACKEND = typer.Option("hf", "--backend", help="Generation backend: hf (transformers, CPU/GPU), vllm, openai (any "
                       "OpenAI-compatible server, e.g. `vllm serve ... --enable-lora`), or package.module:Class.")
BASE_URL = typer.Option(None, "--base-url", help="Server URL for --backend openai.")
TEMPLATE = typer.Option(None, "--template", help=_F["template"].description)
MAX_ATTEMPTS = typer.Option(_F["max_attempts"].default, "--max-attempts", min=1, help=_F["max_attempts"].description)
SEED = typer.Option(0, "--seed", help=_F["seed"].description)
TEMPERATURE = typer.Option(_SAMPLING.temperature, "--temperature", min=0.0, help="Sampling temperature.")
TOP_P = typer.Option(_SAMPLING.top_p, "--top-p", min=0.0, max=1.0, help="Nucleus sampling: keep the smallest set of "
                     "tokens whose probabilities sum to this.")
TOP_K = typer.Option(_SAMPLING.top_k, "--top-k", min=0, help="Sample among this many most likely tokens (0 = all).")
MIN_P = typer.Option(_SAMPLING.min_p, "--min-p", min=0.0, max=1.0, help="Drop tokens below this share of the most "
                     "likely token's probability.")
MAX_NEW_TOKENS = typer.Option(DEFAULT_MAX_NEW_TOKENS, "--max-new-tokens", min=1, help="Tokens per attempt at most; "
                              "an attempt cut here is recorded as truncated (finish reason 'length').")
STOP_REPEATS = typer.Option(DEFAULT_STOP_REPEATS, "--stop-repeats", min=0, help="hf backend: cut an attempt whose "
                            "last line or block of lines repeats this many times in a row (looping text); it is "
                            "recorded as truncated (finish reason 'length', sampling cut 'repetition'). 0 = off.")
GAPS = typer.Option(None, "--gaps", help=_F["gap_source"].description)
DTYPE = typer.Option(None, "--dtype", help="hf backend weights: auto (bf16 on a CPU with native bf16, else fp32), "
                     "bf16 or fp32. fp32 makes each sample independent of its batch-mates (cohort --compare "
                     "uses it unless told otherwise); bf16 is faster.")
THREADS = typer.Option(None, "--threads", min=1, help="hf backend: CPU threads for torch (default: half the cores, at "
                       "least 1; torch's spinning threads slow down many times over when they compete with the grader).")
NO_CONTEXT = _flag("--no-context", "Do not show the persona's work on an earlier problem.")
KEEP_GOING = _flag("--keep-going", "Do not stop when all tests pass (only at <SUBMIT>, a stall or the attempt budget).")


def make_backend(backend: str, model: str, base_url: Optional[str] = None,
                 batch_size: Optional[int] = None, threads: Optional[int] = None,
                 dtype: Optional[str] = None) -> Any:
    """A backend by registry name, or ``package.module:Class`` for your own (see
    :func:`simstudent.models.build_backend`). Adapters travel with each request."""
    from simstudent.models import BackendConfig, build_backend

    return build_backend(BackendConfig(backend=backend, model=model, base_url=base_url,
                                       batch_size=batch_size, num_threads=threads, dtype=dtype))


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


def _check_gaps(gaps: Optional[Path]) -> None:
    if gaps is not None and not gaps.exists():
        fail(f"--gaps {gaps}: no such file or folder (give a dataset with timestamps, or leave --gaps out "
             "for the default lognormal gaps)")


def _student_config(*, model: str, adapter: Optional[str], template: Optional[str], max_attempts: int,
                    seed: int, temperature: float, top_p: float, top_k: int, min_p: float,
                    max_new_tokens: int, gaps: Optional[Path], save_prompts: bool, no_context: bool,
                    keep_going: bool, stop_repeats: int = DEFAULT_STOP_REPEATS) -> StudentConfig:
    from simstudent.agent.prompting import PromptSettings

    sampling = SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
                              max_new_tokens=max_new_tokens, stop_repeats=stop_repeats)
    return StudentConfig(template=template, adapter=adapter, model=model, max_attempts=max_attempts,
                         seed=seed, sampling=sampling, gap_source=str(gaps) if gaps else None,
                         save_prompts=save_prompts, prompt=PromptSettings(context=not no_context),
                         stop_on_pass=not keep_going)


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


# User mistakes: our own errors, and pydantic's (a bad option value in a config model).
_USER_ERRORS = (SimstudentError, ValidationError)


def _message(exc: BaseException) -> str:
    return one_line(exc)


def run_cmd(
    problem: str = typer.Option(..., "--problem", help="Problem id (e.g. hw04_q2) or course/id."),
    persona: str = typer.Option(..., "--persona", help="Persona: a bundled one (student_123), or with --data a "
                                "student id or <dataset>:<id> (e.g. itap:S002)."),
    data: Optional[Path] = DATA, skip_bad_rows: bool = SKIP_BAD_ROWS, model: str = MODEL,
    adapter: Optional[str] = ADAPTER, backend: str = BACKEND,
    base_url: Optional[str] = BASE_URL, template: Optional[str] = TEMPLATE, max_attempts: int = MAX_ATTEMPTS,
    seed: int = SEED, temperature: float = TEMPERATURE, top_p: float = TOP_P, top_k: int = TOP_K,
    min_p: float = MIN_P, max_new_tokens: int = MAX_NEW_TOKENS, stop_repeats: int = STOP_REPEATS,
    gaps: Optional[Path] = GAPS,
    threads: Optional[int] = THREADS, dtype: Optional[str] = DTYPE, no_context: bool = NO_CONTEXT,
    keep_going: bool = KEEP_GOING,
    out: Optional[Path] = typer.Option(None, "--out", help="Trajectory JSON, rewritten after every attempt "
                                       "(default runs/run-<problem>-<persona>-<seed>.json)."),
    as_json: bool = _flag("--json", "Print the trajectory JSON to stdout instead of panels."),
) -> None:
    """Watch one simulated student work one problem: attempt, grade, feedback, again."""
    from simstudent.agent.personas import resolve_persona
    from simstudent.agent.student import SimulatedStudent
    from simstudent.cli._agent_view import show_attempt
    from simstudent.data.jsonl import write_json_atomic
    from simstudent.grader import Grader

    _check_gaps(gaps)
    try:
        dataset, named = _load_data(data, skip_bad_rows)
        prob = _problem(problem, data)
        pers = resolve_persona(persona, named)
        cfg = _student_config(model=model, adapter=adapter, template=template, max_attempts=max_attempts,
                              seed=seed, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
                              max_new_tokens=max_new_tokens, stop_repeats=stop_repeats, gaps=gaps, save_prompts=True,
                              no_context=no_context, keep_going=keep_going)
        _server_adapter_name(cfg, backend)
        sampler = _gap_sampler(cfg, dataset, data)
        with err_console.status(f"loading model {model!r} ({backend})"):
            be = make_backend(backend, model, base_url, threads=threads, dtype=dtype)
    except _USER_ERRORS as exc:
        fail(_message(exc))
    out = out or Path("runs") / f"run-{prob.id.replace('/', '_')}-{pers.id.replace(':', '_')}-{seed}.json"
    with Grader() as grader:
        student = SimulatedStudent(be, grader, pers, cfg, gaps=sampler)
        if not as_json:
            console.rule(f"[bold]{pers.id}[/] works [bold]{prob.id}[/] {prob.title}  "
                         f"(model {model}, template {student.template.name}, seed {seed})")
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


def cohort_cmd(
    problems: str = typer.Option(..., "--problems", help="Comma-separated problem ids."),
    personas: str = typer.Option(..., "--personas", help="Comma-separated personas ('all' = every bundled one); "
                                 "with --data also student ids or <dataset>:<id> (e.g. itap:S002)."),
    out: Path = typer.Option(..., "--out", help="Output folder (rerun the same command to resume)."),
    n_per_persona: int = typer.Option(1, "--n-per-persona", min=1, help="Simulated students per persona."),
    data: Optional[Path] = DATA, skip_bad_rows: bool = SKIP_BAD_ROWS, model: str = MODEL,
    adapter: Optional[str] = ADAPTER, backend: str = BACKEND,
    base_url: Optional[str] = BASE_URL, template: Optional[str] = TEMPLATE, max_attempts: int = MAX_ATTEMPTS,
    seed: int = SEED, temperature: float = TEMPERATURE, top_p: float = TOP_P, top_k: int = TOP_K,
    min_p: float = MIN_P, max_new_tokens: int = MAX_NEW_TOKENS, stop_repeats: int = STOP_REPEATS,
    gaps: Optional[Path] = GAPS,
    threads: Optional[int] = THREADS, dtype: Optional[str] = DTYPE, no_context: bool = NO_CONTEXT,
    keep_going: bool = KEEP_GOING,
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="hf backend: sequences per forward pass."),
    tutor: Optional[str] = typer.Option(None, "--tutor", help="A registered tutor (rule_based) hints before each attempt."),
    compare: bool = _flag("--compare", "With --tutor: run without and with it (same seeds) and compare."),
    export: Optional[str] = typer.Option(None, "--export", help="Also write progsnap2 (OUT/progsnap2/) or jsonl (OUT/cohort.jsonl)."),
    save_prompts: bool = _flag("--save-prompts", "Store each attempt's prompt in attempts.jsonl."),
    no_progress: bool = _flag("--no-progress", "No progress bar."),
    as_json: bool = _flag("--json", "Print the outcome summary as JSON."),
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
    _check_gaps(gaps)
    if ray is not None and (tutor or compare):
        fail("--tutor/--compare cannot run on Ray yet; drop --ray")
    try:
        dataset, named = _load_data(data, skip_bad_rows)
        pids = _split(problems)
        if personas.strip() == "all" and dataset is None:
            from simstudent.problems import list_personas

            persona_ids = list_personas()
        else:
            persona_ids = _split(personas)
        probs = {p.id: p for p in (_problem(pid, data) for pid in pids)}
        pers = [resolve_persona(p, named) for p in persona_ids]
        cfg = CohortConfig(
            problems=list(probs), personas=persona_ids, n_per_persona=n_per_persona,
            tutor=None if compare else tutor, data=str(data) if data else None,
            student=_student_config(model=model, adapter=adapter, template=template, max_attempts=max_attempts,
                                    seed=seed, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
                                    max_new_tokens=max_new_tokens, stop_repeats=stop_repeats, gaps=gaps,
                                    save_prompts=save_prompts,
                                    no_context=no_context, keep_going=keep_going))
        _server_adapter_name(cfg.student, backend)
        sampler = _gap_sampler(cfg.student, dataset, data)
        if ray is not None:
            from simstudent.cli.scale import cohort_on_ray

            return cohort_on_ray(ray, ray_workers, backend, model, base_url, batch_size, threads, probs, pers,
                                  cfg, out, sampler, export=export, progress=not no_progress, as_json=as_json)
        if compare and backend == "hf" and dtype is None:
            # Paired arms: in bf16 a sample can depend on which requests share its batch, and the
            # tutor arm's batches differ from the other arm's; fp32 keeps the arms paired.
            dtype = "fp32"
            err_console.print("--compare: fp32 weights, so both arms sample identically (--dtype to change)")
        with err_console.status(f"loading model {model!r} ({backend})"):
            be = make_backend(backend, model, base_url, batch_size, threads, dtype)
    except _USER_ERRORS as exc:
        fail(_message(exc))
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
    as_json: bool = _flag("--json", "Print the summary and degeneration figures as JSON."),
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
