"""Cohorts: many simulated students x problems, batched, append-only, resumable.

Every (student, problem) pair is a *slot* with its own :class:`SimulatedStudent`.
Two schedules, the same records:

- **continuous** (default on a backend with ``generate_continuous``, the hf loop
  decoder): each slot's request joins the running decode batch; when its completion
  is done it is graded (together with any that finished at the same decode step),
  recorded, and the slot's next request joins at once. No slot waits for another.
- **step** (other backends, or ``schedule="step"``): every live slot prepares its next
  request, the backend gets ONE ``generate`` call for all of them, the grader grades
  all the codes in parallel (``grade_many``), and each slot records its attempt.

Both go through :mod:`simstudent.agent.step`. Output folder::

    cohort.json          the configuration, backend and tutor fingerprint (CohortManifest);
                         a rerun with other ones is refused, naming each difference
    attempts.jsonl       one line per attempt (AttemptRecord), fsynced after each step
    trajectories.jsonl   one line per finished trajectory (Trajectory)

Resume: on start the folder is read back; a torn last line (a kill mid-write) is
cut off, each slot's attempts are restored, stop reasons re-derived, and missing
trajectory lines written. Per-attempt sampling seeds and timestamps depend only on
(seed, student, problem, attempt index) and the slot's own history, so a resumed
run writes the same attempts as an uninterrupted one - exactly so with a backend
whose samples depend only on the request (the scripted test backend, vLLM/OpenAI
with seeds); the HF backend's batched sampling can differ slightly with batch
composition. For the same reason the two schedules write the same attempts per slot
(the order of lines in attempts.jsonl differs; each slot's attempts stay in index
order). A backend exception aborts the run (everything so far is on disk;
rerun to resume); a single completion with ``finish_reason="error"`` stops only
its slot, with stop reason ``"error"``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from simstudent.agent.step import run_continuous, run_step, supports_continuous
from simstudent.agent.student import SimulatedStudent, StudentConfig
from simstudent.agent.timing import GapSampler
from simstudent.agent.tutor import TutorFingerprint, tutor_fingerprint
from simstudent.data.errors import DataError
from simstudent.data.jsonl import JsonlStore, write_json_atomic
from simstudent.schema import Attempt, Persona, Problem, Trajectory
from simstudent.errors import ConfigError, MissingFileError, SimstudentError

ATTEMPTS_FILE = "attempts.jsonl"
TRAJECTORIES_FILE = "trajectories.jsonl"
MANIFEST_FILE = "cohort.json"
SCHEDULES = ("auto", "continuous", "step")


class CohortError(SimstudentError, RuntimeError):
    """The output folder does not match this cohort, or holds inconsistent records."""


class CohortConfig(BaseModel):
    """Which students work which problems, and how."""

    model_config = ConfigDict(extra="forbid")

    problems: list[str] = Field(description="problem ids every student works, in order")
    personas: list[str] = Field(description="persona ids (bundled names, dataset students, dataset:student)")
    n_per_persona: int = Field(1, ge=1, description="simulated students per persona (they differ only in seeds)")
    student: StudentConfig = Field(default_factory=StudentConfig, description="how each student samples and stops")
    tutor: Optional[str] = Field(None, description="the tutor's name (its fingerprint goes in the manifest)")
    data: Optional[str] = Field(None, description="dataset the personas came from (recorded)")


class CohortManifest(BaseModel):
    """``cohort.json``: what made the folder's attempts; a resume must match it."""

    config: CohortConfig
    backend: str = ""
    tutor: Optional[TutorFingerprint] = None


class AttemptRecord(Attempt):
    """One line of attempts.jsonl: an Attempt plus whose it is."""

    student_id: str
    persona_id: str
    problem_id: str

    @classmethod
    def of(cls, slot: "Slot", attempt: Attempt) -> "AttemptRecord":
        return cls(student_id=slot.student_id, persona_id=slot.persona.id, problem_id=slot.problem.id,
                   **attempt.model_dump())

    def attempt(self) -> Attempt:
        """The plain Attempt (without whose it is)."""
        return Attempt(**self.model_dump(exclude={"student_id", "persona_id", "problem_id"}))


def student_ids(persona_id: str, n: int) -> list[str]:
    """Ids of the ``n`` simulated students made from one persona."""
    return [persona_id] if n == 1 else [f"{persona_id}#{i}" for i in range(n)]


@dataclass
class Slot:
    student_id: str
    persona: Persona
    problem: Problem
    student: SimulatedStudent
    written: bool = False  # its trajectory line is on disk

    @property
    def key(self) -> tuple[str, str]:
        return (self.student_id, self.problem.id)


# ---------------------------------------------------------------- files


def read_records(path: Path, cls: type) -> list[Any]:
    """Every complete line of a cohort file as ``cls`` (a torn last line is left out);
    errors name file, line and field."""
    try:
        return JsonlStore(path, cls).read()
    except DataError as exc:
        raise CohortError(str(exc)) from None


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def manifest_differences(on_disk: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    """``"student.max_attempts: 3 on disk, 4 asked"`` for every setting that differs."""
    old, new = _flat(on_disk), _flat(asked)
    return [f"{k}: {old.get(k)!r} on disk, {new.get(k)!r} asked"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def load_cohort_config(out_dir: Union[str, Path]) -> CohortConfig:
    """The configuration recorded in a cohort folder's ``cohort.json``."""
    from pydantic import ValidationError

    path = Path(out_dir) / MANIFEST_FILE
    if not path.exists():
        raise MissingFileError(f"{path}: no such file (is {out_dir} a cohort folder?)")
    try:
        return CohortConfig.model_validate(json.loads(path.read_text(encoding="utf-8"))["config"])
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise CohortError(f"{path}: not a cohort manifest ({type(exc).__name__}: {exc})") from None


def load_trajectories(out_dir: Union[str, Path]) -> list[Trajectory]:
    """The finished trajectories of a cohort folder."""
    path = Path(out_dir) / TRAJECTORIES_FILE
    if not path.exists():
        raise MissingFileError(f"{path}: no such file (is {out_dir} a cohort folder?)")
    return read_records(path, Trajectory)


# ---------------------------------------------------------------- the runner


class Cohort:
    """A cohort run into ``out_dir`` (see the module docstring).

    ``problems`` maps id -> Problem and must hold every id in ``config.problems``;
    ``personas`` holds a Persona for every id in ``config.personas``. ``tutor``
    (anything with ``hint(problem, trajectory)``) is asked before every attempt; its
    fingerprint (:func:`~simstudent.agent.tutor.tutor_fingerprint`) is recorded and a
    resume with another tutor is refused. ``on_attempt`` is called with each
    :class:`AttemptRecord` once it is on disk (for live views and logging).
    ``schedule``: ``"auto"`` (continuous when the backend supports it, else step),
    ``"continuous"`` or ``"step"`` (see the module docstring).
    """

    def __init__(self, backend: Any, grader: Any, problems: dict[str, Problem],
                 personas: Iterable[Persona], config: CohortConfig, out_dir: Union[str, Path],
                 *, tutor: Any = None, gaps: Optional[GapSampler] = None,
                 on_attempt: Optional[Callable[[AttemptRecord], None]] = None,
                 schedule: str = "auto") -> None:
        if schedule not in SCHEDULES:
            raise ConfigError(f"schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
        if schedule == "continuous" and not supports_continuous(backend):
            raise ConfigError(f"schedule 'continuous': backend {getattr(backend, 'name', backend)!r} "
                              "has no continuous batching (use 'step' or 'auto')")
        self.schedule = schedule
        self.backend, self.grader, self.config, self.tutor = backend, grader, config, tutor
        self.on_attempt = on_attempt
        self.out = Path(out_dir)
        self.attempts_store = JsonlStore(self.out / ATTEMPTS_FILE, AttemptRecord)
        self.trajectories_store = JsonlStore(self.out / TRAJECTORIES_FILE, Trajectory)
        by_id = {p.id: p for p in personas}
        missing = [p for p in config.personas if p not in by_id]
        if missing:
            raise ConfigError(f"no persona given for {', '.join(missing)}")
        missing = [p for p in config.problems if p not in problems]
        if missing:
            raise ConfigError(f"no problem given for {', '.join(missing)}")
        sc = config.student
        if gaps is None:
            gaps = (GapSampler.from_dataset(sc.gap_source, max_gap_s=sc.max_gap_s)
                    if sc.gap_source else GapSampler(max_gap_s=sc.max_gap_s))
        self.slots: list[Slot] = []
        for pid in config.personas:
            for sid in student_ids(pid, config.n_per_persona):
                for prob_id in config.problems:
                    student = SimulatedStudent(backend, grader, by_id[pid], sc, student_id=sid, gaps=gaps)
                    self.slots.append(Slot(sid, by_id[pid], problems[prob_id], student))
        self.notes: list[str] = []
        self.steps = 0
        self.generated = 0

    # ---------------------------------------------------------------- resume
    def manifest(self) -> CohortManifest:
        """What this run would record in ``cohort.json``."""
        return CohortManifest(config=self.config, backend=getattr(self.backend, "name", ""),
                              tutor=tutor_fingerprint(self.tutor) if self.tutor is not None else None)

    def _check_manifest(self) -> None:
        """Refuse a folder whose attempts were made with other settings. A folder with
        no attempt yet (a run that failed to start) holds nothing to protect: its
        manifest is replaced, so the corrected command just runs."""
        path = self.out / MANIFEST_FILE
        mine = json.loads(self.manifest().model_dump_json())
        if path.exists():
            try:
                theirs = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise CohortError(f"{path}: not valid JSON ({exc})") from None
            try:  # settings added since the folder was made count with their defaults
                theirs = json.loads(CohortManifest.model_validate(theirs).model_dump_json())
            except ValueError:
                pass  # not this version's manifest: compared as it is, differences named
            theirs = {k: theirs.get(k) for k in mine}  # fields this version records
            if theirs == mine:
                return
            if self.attempts_store.read():
                diffs = manifest_differences(theirs, mine)
                raise CohortError(f"{self.out} holds a different cohort ({'; '.join(diffs[:6])}); "
                                  "use another --out folder or the same settings to resume")
            self.notes.append(f"replaced the settings of {path.name}: no attempt had been made with them")
        write_json_atomic(path, mine)

    def _restore(self) -> None:
        for store in (self.attempts_store, self.trajectories_store):
            note = store.repair()
            if note:
                self.notes.append(note)
        by_key = {s.key: s for s in self.slots}
        restored: dict[tuple[str, str], list[Attempt]] = {k: [] for k in by_key}
        apath = self.attempts_store.path
        for rec in read_records(apath, AttemptRecord):
            key = (rec.student_id, rec.problem_id)
            if key not in restored:
                raise CohortError(f"{apath}: attempt of {key} is not part of this cohort")
            if rec.index != len(restored[key]):
                raise CohortError(f"{apath}: {key} attempt {rec.index} out of order "
                                  f"(expected {len(restored[key])}); the file was edited?")
            restored[key].append(rec.attempt())
        finished = {(t.student_id, t.problem_id): t
                    for t in read_records(self.trajectories_store.path, Trajectory)}
        late: list[Trajectory] = []
        for slot in self.slots:
            traj = slot.student.start(slot.problem, attempts=restored[slot.key])
            if slot.key in finished:
                traj.stop_reason = finished[slot.key].stop_reason
                traj.meta = finished[slot.key].meta
                slot.written = True
            elif traj.stop_reason is not None:  # finished, but killed before its line was written
                late.append(traj)
                slot.written = True
        self.trajectories_store.append(late)
        n = sum(len(v) for v in restored.values())
        if n:
            self.notes.append(f"resumed: {n} attempts on disk, {len(finished) + len(late)} trajectories finished")

    # ---------------------------------------------------------------- steps
    def _step(self, live: list[Slot]) -> int:
        hints = self._hints(live)
        attempts = run_step([s.student for s in live], self.backend, self.grader, hints)
        return self._write(live, attempts)

    def _write(self, live: list[Slot], attempts: list[Optional[Attempt]]) -> int:
        """Append the attempts (and trajectories that just ended) to the files."""
        records = [AttemptRecord.of(slot, att) for slot, att in zip(live, attempts) if att is not None]
        self.attempts_store.append(records)
        done = [s for s in live if s.student.done and not s.written]
        self.trajectories_store.append([s.student.trajectory for s in done])
        for s in done:
            s.written = True
        if self.on_attempt is not None:
            for rec in records:
                self.on_attempt(rec)
        return len(records)

    def _hints(self, live: list[Slot]) -> list[Optional[str]]:
        """The tutor's hint for each live slot; an async tutor's are awaited together."""
        if self.tutor is None:
            return [None] * len(live)
        hints = [self.tutor.hint(s.problem, s.student.trajectory) for s in live]
        if any(inspect.isawaitable(h) for h in hints):
            async def gather() -> list[Optional[str]]:
                return [await h if inspect.isawaitable(h) else h for h in hints]

            hints = asyncio.run(gather())
        return hints

    def run(self, *, progress: bool = True, console: Any = None,
            max_steps: Optional[int] = None) -> list[Trajectory]:
        """Run (or resume) until every slot has stopped; returns all trajectories.
        ``max_steps`` stops early (for tests and smoke runs; it implies step scheduling
        unless ``schedule="continuous"`` was asked, which ignores it); rerun to continue."""
        self._check_manifest()
        self._restore()
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        budget = self.config.student.max_attempts
        total = len(self.slots) * budget
        started, t0 = self.generated, time.monotonic()
        with Progress(TextColumn("[bold]cohort[/] {task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} attempts (upper bound)"),
                      TextColumn("{task.fields[rate]} attempts/s"), TimeElapsedColumn(),
                      console=console, disable=not progress, transient=False) as bar:
            done_before = sum(len(s.student.trajectory.attempts) for s in self.slots)
            task = bar.add_task("", total=total, completed=done_before, rate="-")

            def progress_update() -> None:
                # Stopped slots will never use their remaining budget: shrink the total.
                remaining = sum(budget - len(s.student.trajectory.attempts)
                                for s in self.slots if not s.student.done)
                finished = sum(len(s.student.trajectory.attempts) for s in self.slots)
                rate = (self.generated - started) / max(time.monotonic() - t0, 1e-9)
                bar.update(task, completed=finished, total=finished + remaining, rate=f"{rate:.2f}")

            continuous = self.schedule == "continuous" or (
                self.schedule == "auto" and max_steps is None and supports_continuous(self.backend))
            if continuous:
                live = [s for s in self.slots if not s.student.done]
                bar.update(task, description=f"continuous: {len(live)} live")

                def written(pairs: list[tuple[int, Optional[Attempt]]]) -> None:
                    self.generated += self._write([live[k] for k, _ in pairs], [a for _, a in pairs])
                    progress_update()

                run_continuous([s.student for s in live], self.backend, self.grader,
                               hints=lambda idx: self._hints([live[k] for k in idx]), on_attempts=written)
            while not continuous:
                live = [s for s in self.slots if not s.student.done]
                if not live or (max_steps is not None and self.steps >= max_steps):
                    break
                bar.update(task, description=f"step {self.steps + 1}: {len(live)} live")
                self.generated += self._step(live)
                self.steps += 1
                progress_update()
        return [s.student.trajectory for s in self.slots]


def run_cohort(backend: Any, grader: Any, problems: dict[str, Problem], personas: Iterable[Persona],
               config: CohortConfig, out_dir: Union[str, Path], *, tutor: Any = None,
               progress: bool = True, console: Any = None,
               on_attempt: Optional[Callable[[AttemptRecord], None]] = None,
               schedule: str = "auto") -> list[Trajectory]:
    """Convenience wrapper: ``Cohort(...).run()``."""
    return Cohort(backend, grader, problems, personas, config, out_dir, tutor=tutor, on_attempt=on_attempt,
                  schedule=schedule).run(progress=progress, console=console)
