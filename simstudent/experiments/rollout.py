"""Closed-loop rollouts: the SimulatedStudent continues real streams on its own.

For every test stream with more than ``prefix`` attempts, the first ``prefix`` real
attempts (graded) are injected as the simulated student's own first attempts; the
model then writes attempt after attempt, each graded, with the grader's feedback in
its next prompt (the agent's template), until it submits, passes, stalls or
reaches ``prefix + max_new_attempts``. Streams whose real prefix already passes
every test are skipped (the agent would stop at once) and counted.

Generation is batched across all live streams (one backend call per step). Each
finished trajectory is appended to ``trajectories.jsonl``; a rerun skips finished
streams (an interrupted stream restarts from its prefix).

Scores: ``simstudent.metrics.rollout`` (coverage of the real later steps, grade
proximity, AST match, CodeBLEU-like similarity) against the real continuation, plus
the distribution metrics of the generated attempts against the real continuations
(generated attempt j is paired with real attempt prefix + j where it exists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from simstudent.agent.student import StudentConfig
from simstudent.experiments.inputs import DataConfig, load_inputs
from simstudent.experiments.runfolder import TRAJECTORIES, RunFolder
from simstudent.experiments.runner import GenerationConfig, build_backend, check_eval_adapter
from simstudent.schema import Attempt, Dataset, Persona, Stream, Trajectory
from simstudent.errors import InputError


_STUDENT = StudentConfig.model_fields


class RolloutConfig(BaseModel):
    """Everything that defines one rollout run (written to config.json)."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig
    gen: GenerationConfig = Field(default_factory=GenerationConfig)
    context: bool = True  # show the student's work on an earlier problem
    prefix: int = Field(2, ge=0, description="Real attempts injected before the model takes over (0: the "
                        "simulated student starts from scratch, as in `simstudent run`).")
    min_attempts: int = Field(1, ge=1, description="Roll out only streams with at least this many real attempts.")
    max_new_attempts: int = Field(6, ge=1)
    # The simulated student's own defaults (one place: StudentConfig).
    ignore_failing_submit: bool = Field(_STUDENT["ignore_failing_submit"].default,
                                        description=_STUDENT["ignore_failing_submit"].description)
    redraw_repeats: int = Field(_STUDENT["redraw_repeats"].default, ge=0,
                                description=_STUDENT["redraw_repeats"].description)
    limit: Optional[int] = None  # first N streams
    embedder: str = "minilm"
    floor_repeats: int = 5
    bins: int = 10
    label: Optional[str] = None
    command: str = ""
    k: Optional[int] = None  # exp2-template adapters: prior attempts shown (None: the adapter's)

    def run_label(self) -> str:
        if self.label:
            return self.label
        base = Path(self.gen.model).name if self.gen.model != "default" else "smollm2-135m"
        return f"{base}-lora" if self.gen.adapter else f"{base}-inst"


def _persona(history: Dataset, stream: Stream) -> Persona:
    """The student's own work on *other* problems (never the stream being rolled out)."""
    own = [s for s in history.streams if s.student_id == stream.student_id and s.problem_id != stream.problem_id]
    return Persona(id=stream.student_id, history=own,
                   problems={s.problem_id: history.problems[s.problem_id] for s in own if s.problem_id in history.problems},
                   source="rollout")


def _student_config(cfg: RolloutConfig) -> Any:
    from simstudent.agent.prompting import PromptSettings
    from simstudent.agent.student import StudentConfig
    from simstudent.models.base import SamplingParams

    g = cfg.gen
    return StudentConfig(
        template=g.template, chat=g.chat, adapter=g.adapter, model=g.model, seed=g.seed,
        max_attempts=cfg.prefix + cfg.max_new_attempts, ignore_failing_submit=cfg.ignore_failing_submit,
        redraw_repeats=cfg.redraw_repeats,
        sampling=SamplingParams(temperature=g.temperature, top_p=g.top_p, top_k=g.top_k, min_p=g.min_p,
                                max_new_tokens=g.max_new_tokens),
        prompt=PromptSettings(context=cfg.context, k=cfg.k),
        save_prompts=False,
    )


def _stream_id(stream: Stream) -> str:
    return f"{stream.student_id}:{stream.problem_id}"


def rollout_streams(cfg: RolloutConfig, test: Dataset) -> list[Stream]:
    streams = sorted((s for s in test.streams if len(s.submissions) > cfg.prefix
                      and len(s.submissions) >= cfg.min_attempts),
                     key=lambda s: (s.student_id, s.problem_id))
    return streams[: cfg.limit] if cfg.limit is not None else streams


def run_rollouts(cfg: RolloutConfig, out: Path | str, *, backend: Any = None, grader: Any = None,
                 overwrite: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the rollouts into ``out``; returns the metrics dict."""
    from simstudent.agent.step import run_step
    from simstudent.agent.student import SimulatedStudent
    from simstudent.experiments.progress import Stage

    folder = RunFolder(out)
    data = cfg.model_dump(mode="json")
    data["label"] = cfg.run_label()
    folder.init(data, overwrite=overwrite)
    inputs = load_inputs(cfg.data)
    check_eval_adapter(cfg.gen, inputs)
    streams = rollout_streams(cfg, inputs.test)
    if not streams:
        raise InputError(f"{cfg.data.data}: no {cfg.data.split} stream is longer than the prefix ({cfg.prefix}) "
                         f"with at least {cfg.min_attempts} attempts")
    done = {r.id for r in folder.records(TRAJECTORIES, RolloutRecord)}
    todo = [s for s in streams if _stream_id(s) not in done]
    own_grader = grader is None
    if grader is None:
        from simstudent.grader import Grader

        grader = Grader()
    try:
        with Stage(show_progress) as stage:
            bar = stage.bar("rollouts", unit="streams")
            bar(len(streams) - len(todo), len(streams))
            if todo:
                if backend is None:
                    backend = build_backend(cfg.gen)
                scfg = _student_config(cfg)
                # Grade every prefix once, in parallel.
                pairs = [(inputs.problems[s.problem_id], sub.code) for s in todo for sub in s.submissions[: cfg.prefix]]
                grades = iter(grader.grade_many(pairs))
                live: list[tuple[Stream, Any]] = []
                with folder.appender(TRAJECTORIES, RolloutRecord) as sink:
                    for s in todo:
                        prefix = [Attempt(index=i, code=sub.code, grade=next(grades))
                                  for i, sub in enumerate(s.submissions[: cfg.prefix])]
                        student = SimulatedStudent(backend, grader, _persona(inputs.history, s), scfg)
                        student.start(inputs.problems[s.problem_id], attempts=prefix)
                        if student.done:  # the real prefix already passes: nothing to continue
                            sink.write(_record(s, student.trajectory, cfg.prefix, skipped=True))
                            continue
                        live.append((s, student))
                    finished = len(streams) - len(todo) + (len(todo) - len(live))
                    bar(finished, len(streams))
                    while live:
                        # The agent's closed-loop step: one batched generate call, parallel grading.
                        run_step([st for _, st in live], backend, grader)
                        still = []
                        for s, st in live:
                            if st.done:
                                sink.write(_record(s, st.trajectory, cfg.prefix))
                                finished += 1
                            else:
                                still.append((s, st))
                        live = still
                        bar(finished, len(streams))
            from simstudent.experiments.rollout_measure import measure_rollouts

            return measure_rollouts(cfg, folder, streams, inputs, progress=stage)
    finally:
        if own_grader:
            grader.close()


class RolloutRecord(BaseModel):
    """One line of a rollout run's trajectories.jsonl."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="student:problem of the real stream continued")
    skipped: bool = Field(False, description="the real prefix already passed: nothing was generated")
    trajectory: Trajectory


def _record(stream: Stream, traj: Trajectory, prefix: int, skipped: bool = False) -> RolloutRecord:
    traj.meta["prefix_len"] = prefix
    traj.meta["real_student_id"] = stream.student_id
    return RolloutRecord(id=_stream_id(stream), skipped=skipped, trajectory=traj)


def continuation(traj: Trajectory, prefix: int) -> Trajectory:
    """The trajectory with only the generated attempts (what the rollout metrics score)."""
    return traj.model_copy(update={"attempts": [a for a in traj.attempts[prefix:]]})


def read_trajectories(folder: RunFolder) -> list[tuple[dict[str, Any], Trajectory]]:
    """(record as a dict, its trajectory) for every finished rollout."""
    return [(r.model_dump(mode="json"), r.trajectory) for r in folder.records(TRAJECTORIES, RolloutRecord)]


__all__: Sequence[str] = ["RolloutConfig", "RolloutRecord", "run_rollouts", "continuation", "read_trajectories"]
