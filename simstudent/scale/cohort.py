"""A cohort whose (student, problem) slots are split across Ray actors.

Ray does the scheduling, placement and restarts; this module only splits the slots,
collects what the actors return, and writes it. Each actor (:class:`CohortWorker`)
owns a generation backend (built in the actor by ``make_backend``: a local model, or a
client of shared OpenAI-compatible servers) and a grader pool on its node, and
advances its slots with the same :func:`~simstudent.agent.step.run_step` a one-process
:class:`~simstudent.agent.cohort.Cohort` uses.

One writer: the driver appends every attempt an actor returns to the cohort folder's
``attempts.jsonl`` (and finished trajectories to ``trajectories.jsonl``), so the
folder has the same layout, manifest and resume rules as a one-process run. Sampling
seeds and timestamps depend only on (seed, student, problem, attempt index) and the
slot's own history, so with a backend whose samples depend only on the request the
attempts are identical to a one-process run (only the order of lines differs).

An actor that dies mid-step is restarted by Ray (``max_restarts``); its unfinished
step returned nothing, so nothing of it was written. The driver hands the restarted
actor its slots with the attempts on disk, and the step is redone: no attempt is
lost or written twice.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Optional, Union
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from simstudent.errors import ConfigError, SimstudentError
from simstudent.schema import Attempt, Persona, Problem, Trajectory


class RayUnavailable(SimstudentError, RuntimeError):
    """Ray is not installed (``pip install -e ".[ray]"``) or the cluster cannot be reached."""


class RayConfig(BaseModel):
    """Where and how wide a cohort runs on Ray."""

    model_config = ConfigDict(extra="forbid")

    address: Optional[str] = Field(None, description=(
        "Ray cluster address: 'auto' joins the cluster this machine is part of, ray://host:10001 a "
        "remote one; empty starts a local cluster on this machine."))
    workers: int = Field(2, ge=1, description="Ray actors the (student, problem) slots are split across.")
    cpus_per_worker: float = Field(1.0, gt=0, description=(
        "CPUs Ray reserves per actor (its grader pool runs this many sandboxes)."))
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs Ray reserves per actor (a local model on GPU).")
    max_restarts: int = Field(3, ge=0, description="How often Ray restarts an actor that died before giving up.")
    local_cpus: Optional[int] = Field(None, ge=1, description="CPUs of a local cluster started here (default: all).")


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable('Ray is not installed: pip install -e ".[ray]" (or pip install "ray>=2.9")') from None
    return ray


def ensure_ray(config: RayConfig) -> Any:
    """Connect to (or start) the cluster ``config`` names, once per process."""
    ray = require_ray()
    if not ray.is_initialized():
        try:
            if config.address:
                ray.init(address=config.address, log_to_driver=False)
            else:
                ray.init(num_cpus=config.local_cpus, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"cannot reach Ray cluster {config.address or 'local'}: {exc}") from None
    return ray


def task_failure(exc: BaseException) -> str:
    """One line saying why a Ray task failed: the exception raised in the task (a
    RayTaskError's cause) and the last line of its message."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"


def default_grader() -> Any:
    """A grader pool sized to the CPUs Ray gave this actor."""
    from simstudent.grader import Grader, GraderConfig

    try:
        import ray

        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
    except Exception:  # not inside a Ray worker
        cpus = 1
    return Grader(GraderConfig(workers=max(1, cpus)))


class _WorkerSlot:
    def __init__(self, student_id: str, persona: Persona, problem: Problem, student: Any) -> None:
        self.student_id, self.persona, self.problem, self.student = student_id, persona, problem, student
        self.sent = False  # its finished trajectory went back to the driver


class CohortWorker:
    """One Ray actor's share of a cohort (wrapped with ``ray.remote`` by the driver)."""

    def __init__(self, make_backend: Callable[[], Any], make_grader: Callable[[], Any],
                 problems: dict[str, Problem], personas: dict[str, Persona], config: Any,
                 gaps: Any = None) -> None:
        self.backend = make_backend()
        grader = make_grader()
        self.grader = grader.__enter__() if hasattr(grader, "__enter__") else grader
        self.problems, self.personas, self.config, self.gaps = problems, personas, config, gaps
        self.slots: Optional[list[_WorkerSlot]] = None  # None until the driver loads them

    def backend_name(self) -> str:
        return getattr(self.backend, "name", "")

    def load(self, shard: list[tuple[str, str, str, list[dict]]]) -> int:
        """Take over slots ``(student_id, persona_id, problem_id, attempts on disk)``."""
        from simstudent.agent.student import SimulatedStudent

        self.slots = []
        for sid, pid, prob_id, attempts in shard:
            student = SimulatedStudent(self.backend, self.grader, self.personas[pid], self.config.student,
                                       student_id=sid, gaps=self.gaps)
            student.start(self.problems[prob_id], attempts=[Attempt.model_validate(a) for a in attempts])
            self.slots.append(_WorkerSlot(sid, self.personas[pid], self.problems[prob_id], student))
        return sum(not s.student.done for s in self.slots)

    def step(self) -> Optional[tuple[list[dict], list[dict], int]]:
        """One step of every live slot: (attempt records, newly finished trajectories,
        slots still live); None when this actor holds no slots (it was restarted)."""
        from simstudent.agent.cohort import AttemptRecord
        from simstudent.agent.step import run_step

        if self.slots is None:
            return None
        live = [s for s in self.slots if not s.student.done]
        records: list[dict] = []
        if live:
            attempts = run_step([s.student for s in live], self.backend, self.grader)
            records = [AttemptRecord.of(s, a).model_dump(mode="json")  # type: ignore[arg-type]
                       for s, a in zip(live, attempts) if a is not None]
        finished = []
        for s in self.slots:
            if s.student.done and not s.sent:
                finished.append(s.student.trajectory.model_dump(mode="json"))
                s.sent = True
        return records, finished, sum(not s.student.done for s in self.slots)

    def shutdown(self) -> None:
        if hasattr(self.grader, "__exit__"):
            self.grader.__exit__(None, None, None)


class _NamedBackend:
    """Stands in for the actors' backend in the driver (its name goes in the manifest)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def generate(self, requests: Any) -> Any:  # pragma: no cover - the driver never generates
        raise RuntimeError("the Ray driver does not generate; its actors do")


class RayCohort:
    """A :class:`~simstudent.agent.cohort.Cohort` run on Ray actors into ``out_dir``.

    ``make_backend`` and ``make_grader`` are called inside each actor (they travel
    pickled, so closures and ``functools.partial(build_backend, config)`` work).
    ``on_attempt`` is called in the driver with each record once it is on disk.
    """

    def __init__(self, make_backend: Callable[[], Any], problems: dict[str, Problem],
                 personas: Iterable[Persona], config: Any, out_dir: Union[str, Path],
                 ray_config: Optional[RayConfig] = None, *, make_grader: Callable[[], Any] = default_grader,
                 gaps: Any = None, tutor: Any = None,
                 on_attempt: Optional[Callable[[Any], None]] = None) -> None:
        if tutor is not None:
            raise ConfigError("a tutor is not supported on Ray yet; run the cohort without --ray")
        self.make_backend, self.make_grader = make_backend, make_grader
        self.problems, self.personas, self.config = problems, list(personas), config
        self.out = Path(out_dir)
        self.ray_config = ray_config or RayConfig()
        self.gaps, self.on_attempt = gaps, on_attempt
        self.notes: list[str] = []
        self.restarts = 0
        self.generated = 0

    def _start_workers(self, ray: Any) -> list[Any]:
        rc = self.ray_config
        actor = ray.remote(CohortWorker).options(
            num_cpus=rc.cpus_per_worker, num_gpus=rc.gpus_per_worker,
            max_restarts=rc.max_restarts, max_task_retries=0)
        by_id = {p.id: p for p in self.personas}
        return [actor.remote(self.make_backend, self.make_grader, self.problems, by_id, self.config, self.gaps)
                for _ in range(rc.workers)]

    def run(self, *, progress: bool = True, console: Any = None) -> list[Trajectory]:
        """Run (or resume) until every slot has stopped; returns all trajectories in
        the order a one-process Cohort returns them."""
        from simstudent.agent.cohort import AttemptRecord, Cohort, TRAJECTORIES_FILE, ATTEMPTS_FILE
        from simstudent.data.jsonl import JsonlStore

        ray = ensure_ray(self.ray_config)
        workers = self._start_workers(ray)
        try:
            name = ray.get(workers[0].backend_name.remote())
            # The one-process Cohort checks the manifest and restores the folder
            # (torn lines, finished-but-unwritten trajectories); no step runs.
            local = Cohort(_NamedBackend(name), None, self.problems, self.personas, self.config, self.out,
                           gaps=self.gaps)
            local.run(progress=False, max_steps=0)
            self.notes.extend(local.notes)
            attempts_store = JsonlStore(self.out / ATTEMPTS_FILE, AttemptRecord)
            traj_store = JsonlStore(self.out / TRAJECTORIES_FILE, Trajectory)
            order = [s.key for s in local.slots]
            history: dict[tuple[str, str], list[dict]] = {
                s.key: [a.model_dump(mode="json") for a in s.student.trajectory.attempts] for s in local.slots}
            final: dict[tuple[str, str], Trajectory] = {
                s.key: s.student.trajectory for s in local.slots if s.student.done}
            live = [s for s in local.slots if not s.student.done]
            shards: list[list[tuple[str, str, str]]] = [[] for _ in workers]
            for i, s in enumerate(live):
                shards[i % len(workers)].append((s.student_id, s.persona.id, s.problem.id))

            def shard_state(w: int) -> list[tuple[str, str, str, list[dict]]]:
                return [(sid, pid, prob, history[(sid, prob)]) for sid, pid, prob in shards[w]]

            budget = self.config.student.max_attempts
            self._loop(ray, workers, shards, shard_state, history, final, attempts_store, traj_store,
                       AttemptRecord, budget, progress, console)
            return [final[k] for k in order]
        finally:
            for w in workers:
                try:
                    ray.kill(w)
                except Exception:
                    pass

    def _load(self, ray: Any, worker: Any, state: list) -> None:
        """Hand a (possibly restarted) actor its slots; retried while Ray restarts it."""
        import time

        from ray.exceptions import RayActorError

        # A call to an actor that Ray is still restarting can fail at once, several times in a
        # row on a loaded machine: wait with backoff (bounded) instead of giving up. (The death
        # itself was counted where the step failed.)
        failures, delay, deadline = 0, 0.25, time.monotonic() + 120
        while True:
            try:
                ray.get(worker.load.remote(state))
                return
            except RayActorError:
                failures += 1
                if failures > self.ray_config.max_restarts + 1 and time.monotonic() > deadline:
                    raise SimstudentError(f"a Ray actor could not be restarted ({failures} failed calls); "
                                          f"every attempt so far is in {self.out}") from None
                time.sleep(delay)
                delay = min(delay * 2, 4.0)

    def _loop(self, ray: Any, workers: list, shards: list, shard_state: Callable, history: dict, final: dict,
              attempts_store: Any, traj_store: Any, record_cls: Any, budget: int, progress: bool,
              console: Any) -> None:
        from ray.exceptions import RayActorError
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        pending: dict[Any, int] = {}
        for w, worker in enumerate(workers):
            if shards[w]:
                self._load(ray, worker, shard_state(w))
                pending[worker.step.remote()] = w
        done_before = sum(len(v) for v in history.values())
        t0 = time.monotonic()
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} attempts (upper bound)"),
                      TextColumn("{task.fields[rate]} attempts/s"), TimeElapsedColumn(),
                      console=console, disable=not progress) as bar:
            total = bar.add_task("cohort on Ray", total=len(history) * budget, completed=done_before, rate="-")
            per = [bar.add_task(f"  worker {w}", total=len(shards[w]) * budget,
                                completed=sum(len(history[(s, p)]) for s, _, p in shards[w]), rate="-")
                   for w in range(len(workers))]
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                w = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except RayActorError:
                    result = None
                    self.restarts += 1
                if result is None:  # died (Ray restarts it) or lost its slots: reload and redo the step
                    if self.restarts > self.ray_config.max_restarts * len(workers):
                        raise SimstudentError(f"Ray actors died {self.restarts} times; every attempt so far "
                                              f"is in {self.out}: rerun to resume")
                    self._load(ray, workers[w], shard_state(w))
                    pending[workers[w].step.remote()] = w
                    continue
                records, finished, still_live = result
                recs = [record_cls.model_validate(r) for r in records]
                attempts_store.append(recs)
                trajs = [Trajectory.model_validate(t) for t in finished]
                traj_store.append(trajs)
                for r, raw in zip(recs, records):
                    history[(r.student_id, r.problem_id)].append(
                        {k: v for k, v in raw.items() if k not in ("student_id", "persona_id", "problem_id")})
                    if self.on_attempt is not None:
                        self.on_attempt(r)
                for t in trajs:
                    final[(t.student_id, t.problem_id)] = t
                self.generated += len(recs)
                rate = f"{self.generated / max(time.monotonic() - t0, 1e-9):.2f}"
                mine = sum(len(history[(s, p)]) for s, _, p in shards[w])
                left = sum(budget - len(history[(s, p)]) for s, _, p in shards[w] if (s, p) not in final)
                bar.update(per[w], completed=mine, total=mine + left, rate=rate)
                everything = sum(len(v) for v in history.values())
                left_all = sum(budget - len(v) for k, v in history.items() if k not in final)
                bar.update(total, completed=everything, total=everything + left_all, rate=rate)
                if still_live:
                    pending[workers[w].step.remote()] = w


def run_cohort_on_ray(make_backend: Callable[[], Any], problems: dict[str, Problem], personas: Iterable[Persona],
                      config: Any, out_dir: Union[str, Path], ray_config: Optional[RayConfig] = None,
                      **kw: Any) -> list[Trajectory]:
    """Convenience wrapper: ``RayCohort(...).run()``."""
    progress = kw.pop("progress", True)
    console = kw.pop("console", None)
    return RayCohort(make_backend, problems, personas, config, out_dir, ray_config, **kw).run(
        progress=progress, console=console)
