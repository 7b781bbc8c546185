"""exp1 / exp2: teacher-forced generation for every test example, graded and measured.

One run = one (experiment, test split, context, k, model/adapter) cell of the
paper's tables. Steps, each resumable from the run folder:

1. build the split and the test examples (``inputs.py``);
2. generate ``samples`` completions per example, batched through the backend,
   appended to ``generations.jsonl`` as they come (a rerun skips written ids);
3. grade every generated code and every real target in the sandbox, appended to
   ``grades.jsonl`` (real targets too: their error types are the Student bars);
4. measure (``measure.py``) and write ``metrics.json`` + ``embeddings.npz``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from simstudent.errors import InputError
from simstudent.experiments.inputs import DataConfig, build_examples, load_inputs
from simstudent.experiments.runfolder import GENERATIONS, GRADES, GenerationRecord, GradeRecord, RunFolder
from simstudent.metrics.conventions import Conventions
from simstudent.schema import Example, GradeResult, Problem


class GenerationConfig(BaseModel):
    """Which model answers, and how it samples (paper defaults, appendix B)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "default"
    adapter: Optional[str] = None
    backend: str = "hf"
    base_url: Optional[str] = None  # openai backend: an OpenAI-compatible server
    template: Optional[str] = None  # None: the adapter's kind, else chat (instruct model)
    chat: Optional[bool] = None  # None: chat templates unless an adapter is given
    samples: int = Field(1, ge=1)
    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    min_p: float = 0.0
    max_new_tokens: int = 256
    seed: int = 0
    batch_size: int = Field(8, ge=1)
    num_threads: Optional[int] = None  # torch CPU threads (hf); None = torch's default


class ExperimentConfig(BaseModel):
    """Everything that defines one exp1/exp2 run (written to config.json)."""

    model_config = ConfigDict(extra="forbid")

    exp: str  # "exp1" | "exp2"
    data: DataConfig
    gen: GenerationConfig = Field(default_factory=GenerationConfig)
    context: bool = True
    k: int = 3
    limit: Optional[int] = None  # first N examples only (smoke runs)
    embedder: str = "minilm"
    floor_repeats: int = 5
    bins: int = 10
    conventions: Conventions = Field(default_factory=Conventions,
                                     description="Named measuring conventions (defaults: the paper authors').")
    label: Optional[str] = None
    command: str = ""  # the command line that made the run (for the report)

    def run_label(self) -> str:
        if self.label:
            return self.label
        if self.gen.backend == "copy-previous":
            return "copy-previous"
        base = Path(self.gen.model).name if self.gen.model not in ("default",) else "smollm2-135m"
        return f"{base}-lora" if self.gen.adapter else f"{base}-inst"


# ------------------------------------------------------------------ templates

def experiment_template(gen: GenerationConfig, exp: str, context: bool) -> str:
    """The prompt template family of an exp1/exp2 run: explicit ``template`` wins; an
    adapter's recorded template decides ft/chat and its layout (it was trained on one
    of them); without an adapter an instruct model gets the paper's prompting (chat)
    templates in the paper's layout."""
    from simstudent.prompts import get_template, template_name

    if gen.template:
        return get_template(gen.template).name
    kind, layout = "chat", "paper"
    if gen.adapter:
        from simstudent.agent.prompting import adapter_template

        recorded = adapter_template(gen.adapter)[0]
        if recorded:
            tpl = get_template(recorded)
            kind, layout = tpl.kind, tpl.layout
        else:
            kind = "ft"  # a served LoRA name: the fine-tune format is the usual one
    if gen.chat is not None:
        kind = "chat" if gen.chat else "ft"
    return template_name(exp, context, kind=kind, layout=layout)


def template_for_example(family: str, example: Example) -> str:
    """The family's variant for one example: an example with no earlier problem gets
    the no-context form (its prompt would otherwise show an empty PAST section)."""
    from simstudent.prompts import get_template, template_name

    tpl = get_template(family)
    return template_name(example.exp, bool(tpl.context and example.context_problem_id), kind=tpl.kind,
                         layout=tpl.layout)


# ------------------------------------------------------------------ generation

def sample_id(example: Example, sample: int) -> str:
    return f"{example.key}#{sample}"


def _sample_seed(base: int, key: str, sample: int) -> int:
    """The agent's seed scheme (``derive_seed``), so one scheme serves every generation."""
    from simstudent.agent.student import derive_seed

    return derive_seed(base, key, sample)


def generate_all(
    folder: RunFolder,
    examples: Sequence[Example],
    problems: dict[str, Problem],
    backend: Any,
    gen: GenerationConfig,
    family: str,
    *,
    progress: Optional[Callable[[int, int], None]] = None,
) -> int:
    """Generate every missing (example, sample), ``batch_size`` at a time, appending
    each batch to generations.jsonl; returns how many were generated now."""
    from simstudent.models.base import GenerationRequest, SamplingParams
    from simstudent.prompts import parse_completion, render_example

    done = folder.done_ids(GENERATIONS, GenerationRecord)
    todo = [(e, s) for e in examples for s in range(gen.samples) if sample_id(e, s) not in done]
    total = len(examples) * gen.samples
    if progress:
        progress(total - len(todo), total)
    made = 0
    with folder.appender(GENERATIONS, GenerationRecord) as out:
        for start in range(0, len(todo), gen.batch_size):
            batch = todo[start:start + gen.batch_size]
            requests, templates = [], []
            for e, s in batch:
                # what model-free baselines (copy-previous) answer from
                meta = {"exp": e.exp, "previous": e.prior[-1] if e.prior else None,
                        "skeleton": problems[e.problem_id].skeleton_code, "final": e.is_final}
                if family == "copy-previous":
                    requests.append(GenerationRequest(prompt="", metadata=meta))
                    templates.append(family)
                    continue
                tpl = template_for_example(family, e)
                rendered = render_example(e, problems[e.problem_id], tpl)
                sampling = SamplingParams(
                    temperature=gen.temperature, top_p=gen.top_p, top_k=gen.top_k, min_p=gen.min_p,
                    max_new_tokens=gen.max_new_tokens, seed=_sample_seed(gen.seed, e.key, s),
                )
                request = rendered.to_request(sampling, adapter=gen.adapter)
                request.metadata = meta
                requests.append(request)
                templates.append(tpl)
            completions = backend.generate(requests)
            if len(completions) != len(requests):
                raise RuntimeError(f"backend returned {len(completions)} completions for {len(requests)} requests")
            for (e, s), tpl, c in zip(batch, templates, completions):
                code, submitted = parse_completion(c.text) if c.finish_reason != "error" else ("", False)
                out.write(GenerationRecord(
                    id=sample_id(e, s), key=e.key, sample=s, template=tpl,
                    completion=c.text, code=code, submitted=submitted,
                    finish_reason=c.finish_reason, prompt_tokens=c.prompt_tokens,
                    completion_tokens=c.completion_tokens, error=getattr(c, "error", None),
                    settings=getattr(c, "settings", None) or {},
                ))
            made += len(batch)
            if progress:
                progress(total - len(todo) + made, total)
    return made


# ------------------------------------------------------------------ grading

def grade_jobs(
    folder: RunFolder,
    jobs: Sequence[tuple[str, str, str, Problem, str]],
    grader: Any,
    *,
    chunk: int = 64,
    progress: Optional[Callable[[int, int], None]] = None,
) -> int:
    """Grade the (id, role, key, problem, code) jobs whose id is not in grades.jsonl
    yet, appending each chunk's verdicts as it finishes: ``chunk`` at a time through
    ``grader.grade_many``, or through ``grader.grade_chunks`` when the grader cuts and
    schedules the chunks itself (:class:`simstudent.scale.RayGrader`: Ray tasks)."""
    done = folder.done_ids(GRADES, GradeRecord)
    todo = [j for j in jobs if j[0] not in done]
    total = len(jobs)
    if progress:
        progress(total - len(todo), total)
    pairs = [(problem, code) for _, _, _, problem, code in todo]
    own_chunks = getattr(grader, "grade_chunks", None)
    chunks = own_chunks(pairs) if own_chunks is not None else _local_chunks(grader, pairs, chunk)
    graded = 0
    with folder.appender(GRADES, GradeRecord) as out:
        for start, results in chunks:
            for (rid, role, key, _, _), res in zip(todo[start:start + len(results)], results):
                out.write(GradeRecord(id=rid, role=role, key=key, grade=res))
            graded += len(results)
            if progress:
                progress(total - len(todo) + graded, total)
    return len(todo)


def _local_chunks(grader: Any, pairs: Sequence[tuple[Problem, str]],
                  chunk: int) -> Iterator[tuple[int, list[GradeResult]]]:
    for start in range(0, len(pairs), chunk):
        yield start, grader.grade_many(pairs[start:start + chunk])


def grade_all(
    folder: RunFolder,
    examples: Sequence[Example],
    problems: dict[str, Problem],
    grader: Any,
    *,
    floor_examples: Sequence[Example] = (),
    chunk: int = 64,
    progress: Optional[Callable[[int, int], None]] = None,
) -> int:
    """Grade every generated code, every real target and every floor target (the
    real targets of the whole test split) not graded yet."""
    by_key = {e.key: e for e in examples}
    jobs: list[tuple[str, str, str, Problem, str]] = [
        (f"{e.key}:real", "real", e.key, problems[e.problem_id], e.target) for e in examples
    ]
    for g in folder.records(GENERATIONS, GenerationRecord):
        if g.key in by_key:
            jobs.append((g.id, "gen", g.key, problems[by_key[g.key].problem_id], g.code))
    jobs += [(f"{e.key}:floor", "floor", e.key, problems[e.problem_id], e.target) for e in floor_examples]
    return grade_jobs(folder, jobs, grader, chunk=chunk, progress=progress)


# ------------------------------------------------------------------ the run

def run_config_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    d = cfg.model_dump(mode="json")
    d["label"] = cfg.run_label()
    return d


def run_experiment(
    cfg: ExperimentConfig,
    out: Path | str,
    *,
    backend: Any = None,
    grader: Any = None,
    embedder: Any = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) one exp1/exp2 run into ``out``; returns the metrics dict.

    ``backend`` / ``grader`` may be given (tests, to share a loaded model across
    runs, or ``grader=simstudent.scale.RayGrader(...)`` to grade as Ray tasks); by
    default they are built from ``cfg`` (and a local ``Grader``). ``embedder`` may
    stand in for ``cfg.embedder``'s (``simstudent.scale.RayEmbedder(cfg.embedder, ...)``
    embeds as Ray tasks).
    """
    from simstudent.experiments.measure import measure_run
    from simstudent.experiments.progress import Stage

    folder = RunFolder(out)
    folder.init(run_config_dict(cfg), overwrite=overwrite)
    inputs = load_inputs(cfg.data)
    check_eval_adapter(cfg.gen, inputs)
    examples = build_examples(inputs, cfg.exp, context=cfg.context, k=cfg.k)
    if cfg.limit is not None:
        examples = examples[: cfg.limit]
    if not examples:
        raise InputError(f"{cfg.data.data}: the {cfg.data.split} split has no {cfg.exp} examples")
    # The floor uses every real target of the whole test split (context plays no part).
    floor_examples = build_examples(inputs, cfg.exp, context=False, k=cfg.k, full=True)
    family = "copy-previous" if cfg.gen.backend == "copy-previous" else experiment_template(cfg.gen, cfg.exp, cfg.context)
    own_grader = grader is None
    with Stage(show_progress) as stage:
        done = folder.done_ids(GENERATIONS, GenerationRecord)
        if any(sample_id(e, s) not in done for e in examples for s in range(cfg.gen.samples)):
            if backend is None:
                backend = build_backend(cfg.gen)
            generate_all(folder, examples, inputs.problems, backend, cfg.gen, family,
                         progress=stage.bar("generating", unit="attempts"))
        if grader is None:
            from simstudent.grader import Grader

            grader = Grader()
        try:
            grade_all(folder, examples, inputs.problems, grader, floor_examples=floor_examples,
                      progress=stage.bar("grading", unit="codes"))
        finally:
            if own_grader:
                grader.close()
        metrics = measure_run(cfg, folder, examples, family, floor_examples=floor_examples, progress=stage,
                              embedder=embedder)
    return metrics


def check_eval_adapter(gen: GenerationConfig, inputs: Any) -> None:
    """Before any model is loaded: the adapter (if any) is complete, made for this base
    model, and was not trained on the evaluated split's students (or NS_NP problems)."""
    if not gen.adapter:
        return
    from simstudent.models.adapters import check_adapter_for_eval

    check_adapter_for_eval(gen.adapter, gen.model if gen.backend != "openai" else None, inputs.split.manifest)


def build_backend(gen: GenerationConfig) -> Any:
    """The backend named in ``gen`` (adapters are passed per request), built by
    :func:`simstudent.models.build_backend`; ``copy-previous`` is the model-free exp2
    baseline, a registered backend like the others."""
    from simstudent.models import BackendConfig
    from simstudent.models import build_backend as build

    return build(BackendConfig(backend=gen.backend, model=gen.model, base_url=gen.base_url,
                               batch_size=gen.batch_size, seed=gen.seed, num_threads=gen.num_threads))
