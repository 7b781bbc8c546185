"""Cohorts: many simulated students x problems, batched, append-only, resumable.

Every (student, problem) pair is a *slot* with its own :class:`SimulatedStudent`.
At each step every live slot prepares its next request, the backend gets ONE
``generate`` call for all of them, the grader grades all the codes in parallel
(``grade_many``), and each slot records its attempt. Output folder::

    cohort.json          the configuration (a rerun with another one is refused)
    attempts.jsonl       one line per attempt (AttemptRecord), fsynced after each step
    trajectories.jsonl   one line per finished trajectory (Trajectory)

Resume: on start the folder is read back; a torn last line (a kill mid-write) is
cut off, each slot's attempts are restored, stop reasons re-derived, and missing
trajectory lines written. Per-attempt sampling seeds and timestamps depend only on
(seed, student, problem, attempt index) and the slot's own history, so a resumed
run writes the same attempts as an uninterrupted one - exactly so with a backend
whose samples depend only on the request (the scripted test backend, vLLM/OpenAI
with seeds); the HF backend's batched sampling can differ slightly with batch
composition. A backend exception aborts the run (everything so far is on disk;
rerun to resume); a single completion with ``finish_reason="error"`` stops only
its slot, with stop reason ``"error"``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field

from simstudent.agent.student import SimulatedStudent, StudentConfig
from simstudent.agent.timing import GapSampler
from simstudent.schema import Attempt, Persona, Problem, Trajectory
from simstudent.data.jsonl import repair_tail
from simstudent.errors import ConfigError, MissingFileError, SimstudentError

ATTEMPTS_FILE = "attempts.jsonl"
TRAJECTORIES_FILE = "trajectories.jsonl"
MANIFEST_FILE = "cohort.json"


class CohortError(SimstudentError, RuntimeError):
    """The output folder does not match this cohort, or holds inconsistent records."""


class CohortConfig(BaseModel):
    """Which students work which problems, and how."""

    model_config = ConfigDict(extra="forbid")

    problems: list[str]
    personas: list[str]
    n_per_persona: int = Field(1, ge=1)
    student: StudentConfig = Field(default_factory=StudentConfig)
    tutor: Optional[str] = None  # a name in simstudent.agent.tutor.TUTORS (recorded)
    data: Optional[str] = None  # dataset the personas came from (recorded)


class AttemptRecord(Attempt):
    """One line of attempts.jsonl: an Attempt plus whose it is."""

    student_id: str
    persona_id: str
    problem_id: str


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
    """Every line of a (repaired) JSONL file as ``cls``; errors name file and line."""
    from pydantic import ValidationError

    out = []
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                out.append(cls.model_validate_json(line))
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"])
                raise CohortError(f"{path}:{lineno}: {field or 'line'}: {err['msg']}") from None
    return out


def append_lines(path: Path, models: Sequence[BaseModel]) -> None:
    """Append one JSON line per model, then flush and fsync once."""
    if not models:
        return
    data = "".join(m.model_dump_json() + "\n" for m in models).encode("utf-8")
    with open(path, "ab") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def load_trajectories(out_dir: Union[str, Path]) -> list[Trajectory]:
    """The finished trajectories of a cohort folder."""
    path = Path(out_dir) / TRAJECTORIES_FILE
    if not path.exists():
        raise MissingFileError(f"{path}: no such file (is {out_dir} a cohort folder?)")
    repair_tail(path)
    return read_records(path, Trajectory)


# ---------------------------------------------------------------- the runner


class Cohort:
    """A cohort run into ``out_dir`` (see the module docstring).

    ``problems`` maps id -> Problem and must hold every id in ``config.problems``;
    ``personas`` holds a Persona for every id in ``config.personas``. ``tutor``
    (anything with ``hint(problem, trajectory)``) is asked before every attempt.
    """

    def __init__(self, backend: Any, grader: Any, problems: dict[str, Problem],
                 personas: Iterable[Persona], config: CohortConfig, out_dir: Union[str, Path],
                 *, tutor: Any = None, gaps: Optional[GapSampler] = None) -> None:
        self.backend, self.grader, self.config, self.tutor = backend, grader, config, tutor
        self.out = Path(out_dir)
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
    def _check_manifest(self) -> None:
        path = self.out / MANIFEST_FILE
        mine = json.loads(self.config.model_dump_json())
        if path.exists():
            theirs = json.loads(path.read_text(encoding="utf-8")).get("config")
            if theirs != mine:
                diff = sorted(k for k in set(mine) | set(theirs or {}) if (theirs or {}).get(k) != mine.get(k))
                raise CohortError(f"{self.out} holds a different cohort (differs in: {', '.join(diff)}); "
                                  "use another --out folder or the same settings to resume")
            return
        self.out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"config": mine, "backend": getattr(self.backend, "name", "")}, indent=2))
        os.replace(tmp, path)

    def _restore(self) -> None:
        apath, tpath = self.out / ATTEMPTS_FILE, self.out / TRAJECTORIES_FILE
        for path in (apath, tpath):
            note = repair_tail(path)
            if note:
                self.notes.append(note)
        by_key = {s.key: s for s in self.slots}
        restored: dict[tuple[str, str], list[Attempt]] = {k: [] for k in by_key}
        for rec in read_records(apath, AttemptRecord):
            key = (rec.student_id, rec.problem_id)
            if key not in restored:
                raise CohortError(f"{apath}: attempt of {key} is not part of this cohort")
            if rec.index != len(restored[key]):
                raise CohortError(f"{apath}: {key} attempt {rec.index} out of order "
                                  f"(expected {len(restored[key])}); the file was edited?")
            restored[key].append(Attempt(**rec.model_dump(exclude={"student_id", "persona_id", "problem_id"})))
        finished = {(t.student_id, t.problem_id): t for t in read_records(tpath, Trajectory)}
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
        append_lines(tpath, late)
        n = sum(len(v) for v in restored.values())
        if n:
            self.notes.append(f"resumed: {n} attempts on disk, {len(finished) + len(late)} trajectories finished")

    # ---------------------------------------------------------------- steps
    def _step(self, live: list[Slot]) -> int:
        hints = [self.tutor.hint(s.problem, s.student.trajectory) if self.tutor is not None else None
                 for s in live]
        requests = [s.student.prepare(h) for s, h in zip(live, hints)]
        completions = self.backend.generate(requests)  # the one batched call of this step
        if len(completions) != len(requests):
            raise RuntimeError(f"backend returned {len(completions)} completions for {len(requests)} requests")
        ok = [i for i, c in enumerate(completions) if c.finish_reason != "error"]
        parsed = {i: live[i].student.parse(completions[i]) for i in ok}
        grades = self.grader.grade_many([(live[i].problem, parsed[i][0]) for i in ok]) if ok else []
        grade_of = dict(zip(ok, grades))
        records: list[AttemptRecord] = []
        for i, slot in enumerate(live):
            if i in grade_of:
                code, submitted = parsed[i]
                att = slot.student.record(requests[i], completions[i], grade_of[i], code, submitted)
                assert att is not None
                records.append(AttemptRecord(student_id=slot.student_id, persona_id=slot.persona.id,
                                             problem_id=slot.problem.id, **att.model_dump()))
            else:
                slot.student.record(requests[i], None, None, error=completions[i].text or "backend error")
        append_lines(self.out / ATTEMPTS_FILE, records)
        done = [s for s in live if s.student.done and not s.written]
        append_lines(self.out / TRAJECTORIES_FILE, [s.student.trajectory for s in done])
        for s in done:
            s.written = True
        return len(records)

    def run(self, *, progress: bool = True, console: Any = None,
            max_steps: Optional[int] = None) -> list[Trajectory]:
        """Run (or resume) until every slot has stopped; returns all trajectories.
        ``max_steps`` stops early (for tests and smoke runs); rerun to continue."""
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
            while True:
                live = [s for s in self.slots if not s.student.done]
                if not live or (max_steps is not None and self.steps >= max_steps):
                    break
                bar.update(task, description=f"step {self.steps + 1}: {len(live)} live")
                n = self._step(live)
                self.steps += 1
                self.generated += n
                # Stopped slots will never use their remaining budget: shrink the total.
                remaining = sum(budget - len(s.student.trajectory.attempts)
                                for s in self.slots if not s.student.done)
                finished = sum(len(s.student.trajectory.attempts) for s in self.slots)
                rate = (self.generated - started) / max(time.monotonic() - t0, 1e-9)
                bar.update(task, completed=finished, total=finished + remaining, rate=f"{rate:.2f}")
        return [s.student.trajectory for s in self.slots]


def run_cohort(backend: Any, grader: Any, problems: dict[str, Problem], personas: Iterable[Persona],
               config: CohortConfig, out_dir: Union[str, Path], *, tutor: Any = None,
               progress: bool = True, console: Any = None) -> list[Trajectory]:
    """Convenience wrapper: ``Cohort(...).run()``."""
    return Cohort(backend, grader, problems, personas, config, out_dir, tutor=tutor).run(
        progress=progress, console=console)
