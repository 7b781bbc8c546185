"""Grading as Ray tasks: many codes graded across a cluster's CPUs, no GPU needed.

:class:`RayGrader` grades ``(problem, code)`` pairs the way a local
:class:`~simstudent.grader.Grader` does, but splits them into chunks and runs each
chunk as a Ray task. The task builds its own ``Grader`` on the node it lands on
(the real sandbox, the driver's :class:`~simstudent.grader.GraderConfig`), grades
its chunk and returns the verdicts; the driver collects them as they finish. The
evaluations use it for their grading step (``simstudent eval exp1 --ray``, or
``run_experiment(..., grader=RayGrader(...))``), and the driver alone writes
``grades.jsonl``, so a run folder graded on Ray is the one a local run writes.

Sandbox: with ``isolation="auto"`` the driver resolves the level once (the one a
local grader would use here) and every task is held to it, so no node falls back to
a weaker sandbox; a node that cannot start it fails its task with the reason.

Nothing here imports Ray until grading starts.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

from simstudent.errors import SimstudentError
from simstudent.grader.config import GraderConfig
from simstudent.scale.cohort import RayConfig, ensure_ray, task_failure
from simstudent.schema import GradeResult, Problem


class RayGradingError(SimstudentError, RuntimeError):
    """A grading task failed on the cluster (its node's reason in the message)."""


class RayGradingConfig(BaseModel):
    """How a grading job is cut into Ray tasks."""

    model_config = ConfigDict(extra="forbid")

    chunk_size: int = Field(64, ge=1, description=(
        "Codes per Ray task; the driver writes each task's verdicts as soon as it returns."))
    cpus_per_task: int = Field(1, ge=1, description=(
        "CPUs Ray reserves per task; its grader runs this many sandboxes in parallel."))
    max_in_flight: Optional[int] = Field(None, ge=1, description=(
        "Tasks submitted at once (default: twice the tasks the cluster's CPUs can run together)."))
    max_retries: int = Field(3, ge=0, description=(
        "How often Ray reruns a task whose worker or node died (grading has no side effects)."))


def grade_chunk(problems: Sequence[Problem], chunk: Sequence[tuple[int, str]], config: GraderConfig) -> list[dict]:
    """Grade ``(problem index, code)`` pairs with a grader built here from ``config``;
    the verdicts as JSON-ready dicts, in order. This is the body of a Ray task (and
    runs the same outside Ray)."""
    from simstudent.grader import Grader

    with Grader(config) as grader:
        results = grader.grade_many([(problems[i], code) for i, code in chunk])
    return [r.model_dump(mode="json") for r in results]


class RayGrader:
    """Grades on a Ray cluster; a drop-in for :class:`~simstudent.grader.Grader`'s
    ``grade_many`` and ``grade`` in batch jobs (the evaluations).

    ``grader_config`` is the one the driver would grade with (default:
    ``GraderConfig()``); each task uses it with ``workers`` set to its CPUs.
    ``ray_config`` names the cluster (its ``address`` and ``local_cpus``; the cohort's
    actor fields play no part here).
    """

    def __init__(self, ray_config: Optional[RayConfig] = None, grader_config: Optional[GraderConfig] = None,
                 grading: Optional[RayGradingConfig] = None) -> None:
        self.ray_config = ray_config or RayConfig()
        self.config = grader_config or GraderConfig()
        self.grading = grading or RayGradingConfig()
        self._task_config: Optional[GraderConfig] = None

    @property
    def task_config(self) -> GraderConfig:
        """The grader config each task builds its grader from: the driver's, with the
        sandbox level pinned (see the module docstring) and one sandbox per task CPU."""
        if self._task_config is None:
            isolation = self.config.isolation
            if isolation == "auto":
                from simstudent.grader.sandbox import resolve_isolation

                isolation = resolve_isolation("auto", self.config)[0]
            self._task_config = self.config.model_copy(
                update={"isolation": isolation, "workers": self.grading.cpus_per_task})
        return self._task_config

    def grade_chunks(self, pairs: Sequence[tuple[Problem, str]]) -> Iterator[tuple[int, list[GradeResult]]]:
        """``(start, verdicts of pairs[start:start + n])`` for each chunk, as its task
        finishes (not in order). Stopping the iteration drops the tasks not done."""
        pairs = list(pairs)
        if not pairs:
            return
        task_config = self.task_config  # before Ray starts: a missing sandbox fails here, in one line
        ray = ensure_ray(self.ray_config)
        index: dict[int, int] = {}
        problems: list[Problem] = []
        chunks: list[tuple[int, list[tuple[int, str]]]] = []
        size = self.grading.chunk_size
        for start in range(0, len(pairs), size):
            part = []
            for problem, code in pairs[start:start + size]:
                if id(problem) not in index:
                    index[id(problem)] = len(problems)
                    problems.append(problem)
                part.append((index[id(problem)], code))
            chunks.append((start, part))
        problems_ref = ray.put(problems)  # once in the object store, not once per task
        task = ray.remote(grade_chunk).options(num_cpus=self.grading.cpus_per_task,
                                               max_retries=self.grading.max_retries)
        limit = self.grading.max_in_flight or max(
            2, 2 * int(ray.cluster_resources().get("CPU", 1) // self.grading.cpus_per_task))
        pending: dict[Any, int] = {}  # task -> start of its chunk
        sizes: dict[int, int] = {}
        todo = iter(chunks)

        def submit() -> None:
            nxt = next(todo, None)
            if nxt is not None:
                pending[task.remote(problems_ref, nxt[1], task_config)] = nxt[0]
                sizes[nxt[0]] = len(nxt[1])

        # Tasks still running when the iteration stops (a failure, or the caller stops
        # early) are left to finish and their results dropped (grading has no side
        # effects): ray.cancel on a task whose reply is in flight can abort the driver (a
        # check in Ray's task manager fails).
        for _ in range(min(limit, len(chunks))):
            submit()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            start = pending.pop(ready[0])
            try:
                raw = ray.get(ready[0])
            except Exception as exc:  # RayTaskError (the task raised) or a worker lost for good
                raise RayGradingError(f"grading on Ray failed (codes {start + 1}-{start + sizes[start]} of "
                                      f"{len(pairs)}): {task_failure(exc)}") from None
            submit()  # keep the cluster busy before handing the results back
            yield start, [GradeResult.model_validate(r) for r in raw]

    def grade_many(self, pairs: Iterable[tuple[Problem, str]], *,
                   progress: Optional[Callable[[int], None]] = None) -> list[GradeResult]:
        """Verdicts of ``pairs``, in order (``progress(n)`` as n more are ready)."""
        pairs = list(pairs)
        out: list[Optional[GradeResult]] = [None] * len(pairs)
        for start, results in self.grade_chunks(pairs):
            out[start:start + len(results)] = results
            if progress:
                progress(len(results))
        return out  # type: ignore[return-value]

    def grade(self, problem: Problem, code: str) -> GradeResult:
        """One verdict (a whole task for one code: use ``grade_many`` for many)."""
        return self.grade_many([(problem, code)])[0]

    def close(self) -> None:
        """Nothing to stop: each task closed its own grader (the Ray cluster stays up)."""

    def __enter__(self) -> "RayGrader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
