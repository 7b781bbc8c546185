"""The parent's side of the sandbox: a pool of long-lived worker processes.

Each worker is started once (inside the chosen isolation) and serves one job at a
time over its stdin/stdout. A worker that dies, hangs past the wall clock, answers
garbage or asks to be replaced is killed (its whole sandbox with it) and restarted;
the job it was running gets a runtime-error answer and the pool keeps serving.
"""

from __future__ import annotations

import os
import queue
import select
import shutil
import signal
import subprocess
import threading
import time
from typing import Optional

from simstudent.grader import wire
from simstudent.grader.config import GraderConfig
from simstudent.grader.sandbox import LaunchSpec, launch_spec


class WorkerFailure(RuntimeError):
    """A worker died, hung or spoke garbage while running a job."""


def _read_exact(fd: int, n: int, deadline: float) -> bytes:
    chunks = []
    while n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("worker did not answer in time")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise WorkerFailure("worker exited")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class WorkerProcess:
    """One sandboxed worker: start, ask, kill, restart."""

    def __init__(self, index: int, level: str, config: GraderConfig, *, oneshot: bool = False) -> None:
        self.index = index
        self.level = level
        self.config = config
        self.oneshot = oneshot
        self.proc: Optional[subprocess.Popen] = None
        self.spec: Optional[LaunchSpec] = None
        self.ready = False
        self.restarts = 0

    def start(self) -> None:
        self.spec = launch_spec(self.level, self.config, self.index, oneshot=self.oneshot)
        # stderr is inherited: a worker that cannot start explains itself there.
        self.proc = subprocess.Popen(self.spec.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=self.spec.env, start_new_session=True, bufsize=0)
        self.ready = False

    def _await_ready(self, deadline: float) -> None:
        hello = self._read(deadline)
        if not hello.get("ready"):
            raise WorkerFailure(f"worker failed to start: {hello.get('error', hello)}")
        self.ready = True

    def _read(self, deadline: float) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        (size,) = wire.HEADER.unpack(_read_exact(fd, wire.HEADER.size, deadline))
        if size > wire.MAX_FRAME:
            raise WorkerFailure(f"worker sent an oversized frame ({size} bytes)")
        try:
            return wire.decode(_read_exact(fd, size, deadline))
        except wire.FrameError as exc:
            raise WorkerFailure(f"worker sent garbage: {exc}") from None

    def request(self, payload: dict, timeout: float) -> dict:
        """Send one job and wait for its answer (WorkerFailure/TimeoutError otherwise)."""
        if self.proc is None:
            self.start()
        deadline = time.monotonic() + timeout
        if not self.ready:
            self._await_ready(time.monotonic() + 30.0)
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(wire.encode(payload))
        except (BrokenPipeError, OSError) as exc:
            raise WorkerFailure(f"worker is gone ({exc})") from None
        return self._read(deadline)

    def kill(self) -> None:
        """Kill the worker and its sandbox (bwrap/unshare take their namespaces down)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.kill()
            except OSError:
                pass
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass
        self._remove_scratch()
        self.ready = False

    def close(self, timeout: float = 2.0) -> None:
        """Ask the worker to exit (EOF on its stdin); kill it if it does not."""
        proc = self.proc
        if proc is not None:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def _remove_scratch(self) -> None:
        if self.spec is not None and self.spec.scratch:
            shutil.rmtree(self.spec.scratch, ignore_errors=True)


class WorkerPool:
    """``config.workers`` workers; ``run(job)`` borrows an idle one (thread-safe)."""

    def __init__(self, level: str, config: GraderConfig) -> None:
        self.level = level
        self.config = config
        self.workers = [WorkerProcess(i, level, config) for i in range(config.workers)]
        self._idle: "queue.Queue[WorkerProcess]" = queue.Queue()
        self._started = False
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_started(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the grader is closed")
            if not self._started:
                for w in self.workers:  # all start in parallel; each is awaited on first use
                    w.start()
                    self._idle.put(w)
                self._started = True

    def run(self, job: dict) -> dict:
        """Run one job on an idle worker; never raises for the job's sake."""
        self._ensure_started()
        worker = self._idle.get()
        try:
            if worker.proc is not None and worker.proc.poll() is not None:
                worker.restart()  # died while idle (e.g. the OOM killer): not this job's fault
            payload = {"job": job, "limits": self.config.limits()}
            timeout = self.config.wall_clock_s + self.config.worker_timeout_margin_s
            try:
                resp = worker.request(payload, timeout)
            except TimeoutError:
                worker.restart()
                return {"worker_error": "the grader's worker stopped answering (killed and replaced)",
                        "timed_out": True}
            except WorkerFailure as exc:
                reason = str(exc)
                worker.restart()
                return {"worker_error": f"the grader's worker died while running this code ({reason})"}
            if resp.get("restart"):
                worker.restart()
            return resp
        finally:
            self._idle.put(worker)

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self.workers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for w in self.workers:
                w.close()
