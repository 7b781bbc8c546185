"""The Grader: one object that grades code against a Problem's tests, safely and fast."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Callable, Iterable, Optional, Sequence

from simstudent.grader.cache import GradeCache, cache_key
from simstudent.grader.config import GraderConfig
from simstudent.grader.pool import WorkerPool
from simstudent.grader.sandbox import probe_info, resolve_isolation
from simstudent.grader.verdicts import build_result
from simstudent.schema import GradeResult, Problem

# Bump when a change can alter a verdict: cached results of older versions are ignored.
GRADER_VERSION = "2"
log = logging.getLogger("simstudent.grader")


class Grader:
    """Grades code against a :class:`Problem`'s tests in a pool of sandboxed workers.

    >>> with Grader(GraderConfig(workers=2)) as g:           # doctest: +SKIP
    ...     g.grade(problem, "def add(a, b): return a + b").error_type
    'no_error'

    Workers start on first use, once each, in the strongest isolation available
    (``config.isolation="auto"``); ``self.isolation`` says which, and every result
    repeats it. When no sandbox can start, construction raises
    :class:`~simstudent.grader.sandbox.IsolationUnavailable` (what is missing, how to
    install it): no sandbox at all only with ``isolation="none"``. Thread-safe:
    ``grade`` may be called from many threads.
    """

    def __init__(self, config: Optional[GraderConfig] = None) -> None:
        self.config = config or GraderConfig()
        self.isolation, self.isolation_notes = resolve_isolation(self.config.isolation, self.config)
        info = probe_info(self.isolation, self.config)
        self.isolation_notes += list(info.get("notes") or [])
        # The uid submissions run as (None: the same uid as the worker, e.g. not root).
        self.job_uid: Optional[int] = info.get("job_uid")
        if self.isolation == "none":
            why = "; ".join(self.isolation_notes)
            message = f"simstudent grader: running submissions WITHOUT a sandbox (isolation 'none': {why})"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            log.warning(message)
        self._pool = WorkerPool(self.isolation, self.config)
        path = self.config.resolved_cache_path()
        self._cache = GradeCache(path) if path is not None else None
        self._executor: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self._limits = self.config.limits()
        self._finalizer = weakref.finalize(self, _shutdown, self._pool, self._cache)

    # -- grading ------------------------------------------------------------------------
    def _key(self, problem: Problem, code: str) -> str:
        return cache_key(problem, code, limits=self._limits, isolation=self.isolation, version=GRADER_VERSION)

    def _run(self, problem: Problem, code: str) -> tuple[GradeResult, bool]:
        """Grade without the cache; (result, cacheable)."""
        job = {
            "code": code,
            "fixed_code": problem.fixed_code,
            # Only the sources travel: expected outputs stay in this process.
            "tests": [{"kind": t.kind, "source": t.source, "stdin": t.stdin} for t in problem.tests],
            "per_test_timeout": self.config.per_test_timeout_s,
            "output_cap": self.config.output_cap_bytes,
            "stop_at_timeout": self.config.stop_at_first_timeout,
        }
        t0 = time.perf_counter()
        resp = self._pool.run(job)
        result = build_result(problem, resp, isolation=self.isolation, duration=time.perf_counter() - t0,
                              timeout_s=self.config.per_test_timeout_s, wall_s=self.config.wall_clock_s)
        # A timeout depends on how loaded the machine was, so it is never cached:
        # a slow-but-finite program gets a fresh chance on the next run.
        return result, "worker_error" not in resp and not result.timed_out

    def grade(self, problem: Problem, code: str) -> GradeResult:
        """Grade ``code`` against ``problem`` (fixed code prepended, tests in order)."""
        key = self._key(problem, code) if self._cache is not None else None
        if key is not None:
            hit = self._cache.get(key)  # type: ignore[union-attr]
            if hit is not None:
                return hit
        result, cacheable = self._run(problem, code)
        if key is not None and cacheable:
            self._cache.put(key, result)  # type: ignore[union-attr]
        return result

    def grade_many(
        self,
        pairs: Iterable[tuple[Problem, str]],
        *,
        progress: Optional[Callable[[int], None]] = None,
    ) -> list[GradeResult]:
        """Grade many (problem, code) pairs in parallel over all workers, in order.

        ``progress(n)`` is called (from this thread) as n more results are ready.
        """
        pairs = list(pairs)
        results: list[Optional[GradeResult]] = [None] * len(pairs)
        keys: Sequence[Optional[str]] = [None] * len(pairs)
        todo = list(range(len(pairs)))
        if self._cache is not None:
            keys = [self._key(p, c) for p, c in pairs]
            hits = self._cache.get_many(k for k in keys if k is not None)
            todo = []
            for i, key in enumerate(keys):
                if key in hits:
                    results[i] = hits[key].model_copy(deep=True)
                else:
                    todo.append(i)
            if progress and len(pairs) - len(todo):
                progress(len(pairs) - len(todo))
        pending: list[tuple[str, GradeResult]] = []
        executor = self._get_executor()
        futures = {executor.submit(self._run, *pairs[i]): i for i in todo}
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                result, cacheable = fut.result()
                results[i] = result
                if cacheable and keys[i] is not None:
                    pending.append((keys[i], result))  # type: ignore[arg-type]
                    if len(pending) >= 256:  # long runs keep what they graded if interrupted
                        self._cache.put_many(pending)  # type: ignore[union-attr]
                        pending = []
                if progress:
                    progress(1)
        finally:
            for fut in futures:
                fut.cancel()
            if pending and self._cache is not None:
                self._cache.put_many(pending)
        return results  # type: ignore[return-value]

    async def agrade(self, problem: Problem, code: str) -> GradeResult:
        """``grade`` without blocking the event loop (runs on the grader's threads)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._get_executor(), self.grade, problem, code)

    def pass_rate(self, result: GradeResult) -> Optional[float]:
        """``result``'s pass rate under this grader's configured convention."""
        return result.pass_rate_under(self.config.pass_rate_convention)

    # -- lifecycle ----------------------------------------------------------------------
    def _get_executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="grader")
            return self._executor

    @property
    def worker_restarts(self) -> int:
        """How many times a worker had to be replaced (crashes, hangs, tampering)."""
        return self._pool.restarts

    def close(self) -> None:
        """Stop the workers and close the cache. Safe to call twice."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._finalizer()

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _shutdown(pool: WorkerPool, cache: Optional[GradeCache]) -> None:
    pool.close()
    if cache is not None:
        cache.close()
