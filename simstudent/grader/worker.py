"""The long-lived grading worker: started once inside the sandbox, forks per job.

Run as a script (``python -s -S worker.py OPTIONS_JSON``) by the grader's pool, with
stdin/stdout as its frame channel (see ``wire.py``). For each job it forks a child
that limits, isolates and de-privileges itself and then runs ``harness.run_job``;
the worker watches the child's result pipe with deadlines, kills everything the job
left behind and answers with the validated observations. It never runs student code
itself, so it stays pristine: nothing a submission does survives into the next one.

Stdlib only (bind-mounted into the sandbox with ``harness.py`` and ``wire.py``).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time

from sysutil import (PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, children,
                     count_uid_tasks, drop_capabilities,
                     expose, mount_private, prctl, remove_sysv_ipc, rmtree_contents, sysv_ipc_in_use,
                     uid_can_run_python)
from wire import FrameBuffer, FrameError, read_frame, write_frame

RESULT_FD, CONTROL_FD = 3, 4
MAX_RESULT_FRAME = 4 * 1024 * 1024
PRELOAD = (  # modules novices import: loaded once here, free in every fork
    "math random string re collections itertools functools operator copy time datetime "
    "json heapq bisect statistics fractions decimal typing dataclasses enum textwrap io traceback"
).split()


class Worker:
    """Serves jobs one at a time; see the module docstring."""

    def __init__(self, opts: dict) -> None:
        self.uid = opts.get("uid")  # drop to this uid in each child (root only)
        self.pidns = bool(opts.get("pidns"))  # alone in a pid namespace with our jobs
        self.userns = bool(opts.get("userns"))  # in a user namespace of our own (not root on the host)
        self.workdir = opts.get("workdir") or "/tmp"
        # Every place a job can write; emptied after each job (see sandbox.SCRATCH_DIRS).
        self.scratch = [d for d in (opts.get("scratch") or [self.workdir]) if os.path.isdir(d)]
        self.private_ipc = bool(opts.get("pidns"))  # namespaced levels have an IPC namespace of their own
        if self.uid is not None:
            self.nproc_base = 0  # a uid of the job's own: it starts with no tasks
        elif opts.get("userns"):
            self.nproc_base = 4  # counted per user namespace: the sandbox's init and this worker
        else:
            # RLIMIT_NPROC counts every task of this uid on the host: start from that.
            self.nproc_base = count_uid_tasks(os.getuid())
        self.devnull = os.open("/dev/null", os.O_RDWR)

    # -- one job -------------------------------------------------------------------
    def handle(self, req: dict) -> dict:
        job, limits = req["job"], req["limits"]
        t0 = time.monotonic()
        r, w = os.pipe()
        cr, cw = os.pipe()
        pid = os.fork()
        if pid == 0:
            self._child(job, limits, w, cr)  # never returns
        os.close(w)
        os.close(cr)
        nonce = os.urandom(16).hex()
        try:
            os.write(cw, nonce.encode())
        except OSError:
            pass
        os.close(cw)
        resp = self._collect(pid, r, nonce, job, limits, t0)
        os.close(r)
        resp["leftovers"] = self._cleanup(pid)
        if resp["leftovers"] < 0:
            resp["restart"] = True  # something would not die: the pool replaces this sandbox
        if not self._clean_scratch():
            resp["restart"] = True  # what the job left could not be removed: a fresh sandbox for the next one
        resp["elapsed"] = time.monotonic() - t0
        resp["id"] = req.get("id")
        return resp

    def _child(self, job: dict, limits: dict, w: int, cr: int) -> None:
        try:
            import resource

            os.setsid()  # own process group: the worker can kill the whole group
            import fcntl

            # Park both pipe ends above the fds we are about to overwrite.
            hi_w, hi_cr = fcntl.fcntl(w, fcntl.F_DUPFD, 10), fcntl.fcntl(cr, fcntl.F_DUPFD, 10)
            for fd in (0, 1, 2):
                os.dup2(self.devnull, fd)
            os.dup2(hi_w, RESULT_FD)
            os.dup2(hi_cr, CONTROL_FD)
            os.closerange(CONTROL_FD + 1, 1 << 16)  # protocol pipes, /dev/null, ...
            os.chdir(self.workdir)
            os.umask(0o077)
            mb = 1024 * 1024
            cpu = int(limits["cpu_s"])
            for res, value in (
                (resource.RLIMIT_CPU, (cpu, cpu + 1)),
                (resource.RLIMIT_AS, (limits["address_space_mb"] * mb,) * 2),
                (resource.RLIMIT_FSIZE, (limits["file_size_mb"] * mb,) * 2),
                (resource.RLIMIT_NOFILE, (limits["open_files"],) * 2),
                (resource.RLIMIT_NPROC, (self.nproc_base + limits["nproc"],) * 2),
                (resource.RLIMIT_CORE, (0, 0)),
            ):
                resource.setrlimit(res, value)
            if self.uid is not None:
                # RLIMIT_NPROC does nothing for uid 0: become nobody-like first.
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
            else:
                prctl(PR_SET_DUMPABLE, 1)  # the job's own /proc entries are its own again (the worker's are not)
                if self.userns and not drop_capabilities():  # root of unshare's user namespace: no powers
                    os._exit(72)
            prctl(PR_SET_NO_NEW_PRIVS, 1)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
            os.environ.clear()  # also unsets the C-level environment
            os.environ["HOME"] = self.workdir  # `~` is the fresh working directory, never a real home
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            nonce = os.read(CONTROL_FD, 64).decode()
            os.close(CONTROL_FD)
            import harness

            harness.run_job(job, RESULT_FD, nonce)
        except BaseException:
            pass
        os._exit(71)

    def _collect(self, pid: int, r: int, nonce: str, job: dict, limits: dict, t0: float) -> dict:
        """Read the child's frames until 'done', its exit, a deadline or a forgery.

        The worker sleeps on the child's pidfd, not on the pipe, so a normal job costs
        one wake-up (the child's exit) instead of one per frame; the pipe is enlarged
        so the child rarely blocks on it, and drained at every wake-up.
        """
        import fcntl

        n_tests = len(job["tests"])
        has_toplevel = any(t["kind"] in ("doctest", "assert") for t in job["tests"])
        step = float(limits["per_test_timeout"]) + float(limits["kill_grace_s"])
        wall_deadline = t0 + float(limits["wall_clock_s"])
        next_deadline = t0 + step + 0.5  # the child also has to set itself up
        resp: dict = {"compile_error": None, "toplevel": None, "tests": [], "done": False, "timed_out": False,
                      "timeout_phase": None, "tampered": None, "exit_code": None, "exit_signal": None,
                      "restart": False}
        state = {"expect": ["compile", "compiled"], "frames": 0}
        # JSON may escape a captured byte into six characters: leave room for that.
        buf = FrameBuffer(max(MAX_RESULT_FRAME, 8 * int(job["output_cap"]) + 65536))
        os.set_blocking(r, False)
        try:
            fcntl.fcntl(r, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except OSError:
            pass  # above /proc/sys/fs/pipe-max-size: the default size only means more wake-ups
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        exited = False
        try:
            while True:
                frames_before, n_read = state["frames"], self._drain(r, buf, nonce, state, resp, n_tests, has_toplevel)
                now = time.monotonic()
                if state["frames"] != frames_before:
                    next_deadline = now + step
                if resp["done"] or exited:
                    break
                until = min(wall_deadline, next_deadline)
                if now >= until:
                    resp["timed_out"] = True
                    resp["timeout_phase"] = "wall" if wall_deadline <= next_deadline else state["expect"][0]
                    break
                wait = min(until - now, 0.002 if n_read >= (1 << 19) else 0.1)
                if pidfd is not None:
                    exited = bool(select.select([pidfd], [], [], wait)[0])
                else:
                    time.sleep(min(wait, 0.01))
                    exited = self._exited(pid, resp)
        except FrameError as exc:
            resp["tampered"] = str(exc)
        finally:
            if pidfd is not None:
                os.close(pidfd)
        if not resp["done"] and resp["tampered"] is None and buf.pending:
            resp["tampered"] = f"{buf.pending} stray bytes on the result channel"
        return resp

    def _drain(self, r, buf, nonce, state, resp, n_tests, has_toplevel) -> int:
        """Read everything available now; returns the number of bytes read."""
        total = 0
        while not resp["done"]:
            try:
                data = os.read(r, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                break
            total += len(data)
            for frame in buf.feed(data):
                state["expect"] = self._accept(frame, nonce, state["expect"], resp, n_tests, has_toplevel)
                state["frames"] += 1
        return total

    @staticmethod
    def _exited(pid: int, resp: dict) -> bool:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            resp["_status"] = status
        return bool(done)

    @staticmethod
    def _accept(frame: dict, nonce: str, expect: list, resp: dict, n_tests: int, has_toplevel: bool) -> list:
        """Validate one result frame against the protocol; FrameError if forged/garbled."""
        if frame.get("n") != nonce:
            raise FrameError("result frame without the job's nonce")
        phase = frame.get("phase")
        if phase not in expect:
            raise FrameError(f"unexpected result frame {phase!r} (expected {expect[0]!r})")
        if phase == "compile":
            if not isinstance(frame.get("error"), str):
                raise FrameError("malformed compile frame")
            resp["compile_error"] = frame["error"][:4000]
            resp["compile_timed_out"] = bool(frame.get("timed_out"))
            resp["done"] = True
            return []
        if phase == "done":
            if len(resp["tests"]) < n_tests and not (resp["tests"] and resp["tests"][-1]["timed_out"]):
                raise FrameError("'done' before every test ran, without a timeout")
            resp["done"] = True
            return []
        if phase == "compiled":
            return ["toplevel"] if has_toplevel else (["test"] if n_tests else ["done"])
        obs = Worker._observation(frame)
        if phase == "toplevel":
            resp["toplevel"] = obs
            failed = obs["exc"] is not None or obs["timed_out"]
            return ["done"] if failed else (["test"] if n_tests else ["done"])
        if frame.get("i") != len(resp["tests"]):
            raise FrameError(f"test result {frame.get('i')!r} out of order")
        resp["tests"].append(obs)
        if len(resp["tests"]) >= n_tests:
            return ["done"]
        # After a timed-out test the harness stops (the verdict is fixed) unless told to go on.
        return ["test", "done"] if obs["timed_out"] else ["test"]

    @staticmethod
    def _observation(frame: dict) -> dict:
        out, exc = frame.get("out"), frame.get("exc")
        if not isinstance(out, str) or not isinstance(frame.get("timed_out"), bool):
            raise FrameError("malformed test result")
        if exc is not None:
            if not (isinstance(exc, dict) and isinstance(exc.get("type"), str) and isinstance(exc.get("msg"), str)):
                raise FrameError("malformed exception in test result")
            line = exc.get("line")
            exc = {"type": exc["type"][:200], "msg": exc["msg"][:4000], "line": line if isinstance(line, int) else None}
        return {"out": out, "truncated": bool(frame.get("truncated")), "exc": exc, "timed_out": frame["timed_out"]}

    # -- after the job ----------------------------------------------------------------
    def _cleanup(self, pid: int) -> int:
        """Kill and reap the child and everything it started; -1 if something survives."""
        status = None
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                target()
            except OSError:
                pass
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        self._last_status = status
        killed = 0
        deadline = time.monotonic() + 3.0
        while True:
            kids = children()
            if not kids:
                break
            if self.pidns:
                # Alone with the job's processes in this pid namespace: one atomic sweep.
                try:
                    os.kill(-1, signal.SIGKILL)
                except OSError:
                    pass
            for kid in kids:
                try:
                    os.kill(kid, signal.SIGKILL)
                except OSError:
                    pass
            killed += len(kids)
            while True:  # reap whatever has died (orphans are reparented to us)
                try:
                    done, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    done = 0
                if not done:
                    break
            if time.monotonic() > deadline:
                return -1
            time.sleep(0.0005)
        return killed

    def _clean_scratch(self) -> bool:
        """Empty every writable place and drop the job's SysV IPC objects; False if
        anything is left (the pool then replaces this worker's whole sandbox)."""
        clean = True
        for d in self.scratch:
            try:
                if not os.listdir(d):
                    continue
            except PermissionError:  # a job that owns d (no user drop) may have chmod-ed it
                pass
            except OSError:
                continue
            try:
                os.chmod(d, 0o1777)
            except OSError:
                pass
            try:
                rmtree_contents(d)
                clean = clean and not os.listdir(d)
            except OSError:
                clean = False
        if self.private_ipc and sysv_ipc_in_use():
            if self.uid is None:
                remove_sysv_ipc()  # the job ran as this uid: it may remove them
            clean = clean and not sysv_ipc_in_use()
        return clean


def _describe_status(resp: dict, status) -> None:
    if status is None:
        return
    if os.WIFSIGNALED(status):
        resp["exit_signal"] = os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        resp["exit_code"] = os.WEXITSTATUS(status)


def main(argv: list[str]) -> int:
    opts = json.loads(argv[1]) if len(argv) > 1 else {}
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # a stray print in here must not corrupt the protocol
    os.close(devnull)
    if opts.get("pdeathsig"):
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Load the harness before /tmp is replaced: the package may itself live under /tmp
    # (a clone in a temporary folder), which the private /tmp would hide.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness  # noqa: F401  (loaded before forking)

    if opts.get("private_tmp"):
        failed = mount_private(opts.get("private_dirs") or ["/tmp"], int(opts.get("tmp_mb", 64)))
        if failed:
            write_frame(proto_out, {"ready": False, "error": "could not mount a private " + ", ".join(failed)})
            return 1
    notes = expose(opts["expose"]) if opts.get("expose") and os.geteuid() == 0 else []
    if opts.get("uid") is not None and not uid_can_run_python(opts["uid"]):
        problem = f"uid {opts['uid']} cannot read {os.path.dirname(os.__file__)}"
        if opts.get("pidns"):  # a sandbox whose jobs would keep root's rights is no sandbox: refuse
            write_frame(proto_out, {"ready": False, "error": problem + ": jobs would run as root"})
            return 1
        notes.append(f"{problem}: jobs keep uid {os.getuid()}")  # isolation 'none', asked for explicitly
        opts["uid"] = None
    # Jobs share this worker's uid when the grader is not root: without this, one could
    # ptrace the worker or write its memory (/proc/<pid>/mem) and reach later jobs.
    prctl(PR_SET_DUMPABLE, 0)
    subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1)
    if opts.get("preload", True):
        import importlib

        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    import gc

    gc.collect()
    gc.freeze()  # keep the preloaded heap out of every child's garbage collector (less copy-on-write)
    worker = Worker(opts)
    write_frame(proto_out, {"ready": True, "pid": os.getpid(), "job_uid": worker.uid, "subreaper": subreaper,
                            "notes": notes})
    while True:
        try:
            req = read_frame(proto_in)
        except EOFError:
            return 0
        resp = worker.handle(req)
        status = resp.pop("_status", None)
        _describe_status(resp, status if status is not None else getattr(worker, "_last_status", None))
        try:
            write_frame(proto_out, resp)
        except BrokenPipeError:
            return 0
        if opts.get("oneshot") or resp.get("restart"):
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
