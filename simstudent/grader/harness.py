"""What runs inside the forked child: compile, run top-level code, run the tests.

The child only *observes*: for every test it reports the captured stdout (including
the repr doctest prints for an expression's value) and the exception it raised, if
any. It never sees the expected outputs and never decides pass/fail: the grader
compares in its own process, which student code cannot reach. Observations stream
back one frame per test, so a hang or a crash still leaves the earlier results.

Stdlib only (bind-mounted into the sandbox next to ``worker.py``).
"""

from __future__ import annotations

import builtins
import io
import os
import select
import signal
import sys
import traceback

from wire import FrameError, read_frame, write_frame  # noqa: E402  (siblings inside the sandbox)

SUBMISSION_FILE = "<submission>"
MAX_EXC_CHARS = 2000


class GraderTimeout(BaseException):
    """Raised by the per-test alarm (BaseException so `except Exception` can't eat it)."""


class _CappedSink(io.RawIOBase):
    """A write-only byte sink that keeps at most ``cap`` bytes and drops the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.truncated = False

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        room = self.cap - len(self.data)
        if room > 0:
            self.data += bytes(b[:room])
        if len(b) > max(room, 0):
            self.truncated = True
        return len(b)

    def take(self) -> tuple[str, bool]:
        text = self.data.decode("utf-8", "backslashreplace")
        truncated = self.truncated
        self.data = bytearray()
        self.truncated = False
        return text, truncated


class _Capture:
    """sys.stdout / sys.stderr replacements backed by capped sinks."""

    def __init__(self, cap: int) -> None:
        self.out_sink = _CappedSink(cap)
        self.err_sink = _CappedSink(cap)
        self.out = self._text(self.out_sink)
        self.err = self._text(self.err_sink)

    @staticmethod
    def _text(sink: _CappedSink) -> io.TextIOWrapper:
        return io.TextIOWrapper(
            io.BufferedWriter(sink), encoding="utf-8", errors="backslashreplace", newline="\n", line_buffering=False
        )

    def install(self, stdin_text: str) -> None:
        # Student code may have replaced these; every test starts from ours.
        sys.stdout, sys.stderr = self.out, self.err
        sys.stdin = io.StringIO(stdin_text)

    def take(self) -> tuple[str, bool]:
        for stream in (self.out, self.err):
            try:
                stream.flush()
            except Exception:  # a closed or broken stream: what was written is kept
                pass
        self.err_sink.take()
        return self.out_sink.take()


def _exc_info(exc: BaseException, line_offset: int) -> dict:
    """The exception as doctest sees it (last line of format_exception_only)."""
    try:
        msg = traceback.format_exception_only(type(exc), exc)[-1]
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break reporting
        msg = f"{type(exc).__name__}: <unprintable>\n"
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == SUBMISSION_FILE:
            line = tb.tb_lineno - line_offset
        tb = tb.tb_next
    name = type(exc).__name__ if isinstance(type(exc).__name__, str) else "Exception"
    return {"type": name[:200], "msg": msg[:MAX_EXC_CHARS], "line": line}


def _on_alarm(signum, frame):
    raise GraderTimeout()


class Harness:
    """Runs one job in this (already sandboxed and limited) process."""

    def __init__(self, job: dict, result_fd: int, nonce: str) -> None:
        self.job = job
        self.fd = result_fd
        self.nonce = nonce
        self.pid = os.getpid()
        self.timeout = float(job["per_test_timeout"])
        self.capture = _Capture(int(job["output_cap"]))
        fixed = job.get("fixed_code") or ""
        self.source = (fixed.rstrip("\n") + "\n\n" + job["code"]) if fixed.strip() else job["code"]
        self.line_offset = (fixed.rstrip("\n").count("\n") + 2) if fixed.strip() else 0

    def send(self, frame: dict) -> None:
        # A fork made by student code returns into this harness: it must not report.
        if os.getpid() != self.pid:
            os._exit(0)
        frame["n"] = self.nonce
        write_frame(self.fd, frame)

    def _run(self, code_obj, ns: dict, stdin_text: str, clean_exit_ok: bool = False) -> dict:
        """exec under the alarm; returns exc/timed_out/out fields."""
        self.capture.install(stdin_text)
        exc_info, timed_out = None, False
        signal.signal(signal.SIGALRM, _on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
            try:
                exec(code_obj, ns)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except GraderTimeout:
            timed_out = True
        except SystemExit as exc:
            if not (clean_exit_ok and exc.code in (None, 0)):
                exc_info = _exc_info(exc, self.line_offset)
        except BaseException as exc:  # noqa: BLE001 - everything the student raises is data
            exc_info = _exc_info(exc, self.line_offset)
        if os.getpid() != self.pid:
            os._exit(0)
        out, truncated = self.capture.take()
        return {"out": out, "truncated": truncated, "exc": exc_info, "timed_out": timed_out}

    def _compile(self, source: str, filename: str, mode: str):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout)
        try:
            return compile(source, filename, mode, dont_inherit=True)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _compile_message(self, exc: BaseException) -> str:
        """Python's own syntax-error report, with line numbers of the student's code."""
        if isinstance(exc, SyntaxError) and isinstance(exc.lineno, int):
            try:
                exc.lineno -= self.line_offset
                if isinstance(getattr(exc, "end_lineno", None), int):
                    exc.end_lineno -= self.line_offset
                exc.filename = "your code"
                return "".join(traceback.format_exception_only(type(exc), exc))[:MAX_EXC_CHARS]
            except BaseException:  # noqa: BLE001
                pass
        return _exc_info(exc, self.line_offset)["msg"]

    def run(self) -> None:
        tests = self.job["tests"]
        try:
            program = self._compile(self.source, SUBMISSION_FILE, "exec")
        except GraderTimeout:
            self.send({"phase": "compile", "error": "compilation timed out", "timed_out": True})
            return
        except BaseException as exc:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError
            self.send({"phase": "compile", "error": self._compile_message(exc)})
            return
        self.send({"phase": "compiled"})

        # Before any student code runs: a pristine process to fork each script test from.
        scripts = _ScriptRunner(self, program) if any(t["kind"] == "script" for t in tests) else None
        ns: dict = {"__name__": "submission", "__builtins__": builtins}
        if any(t["kind"] in SHARED_NAMESPACE_KINDS for t in tests):
            # Top-level code runs once; doctest and assert tests share its namespace.
            top = self._run(program, ns, "")
            self.send(dict(top, phase="toplevel"))
            if top["exc"] is not None or top["timed_out"]:
                return
        for i, test in enumerate(tests):
            kind, src = test["kind"], test["source"]
            if kind == "io":
                obs = self._run(program, {"__name__": "__main__", "__builtins__": builtins}, src, clean_exit_ok=True)
            elif kind == "script":
                obs = scripts.run(i)  # type: ignore[union-attr]
            else:
                try:
                    if kind == "doctest":
                        # 'single' mode: an expression statement prints its repr, as in doctest.
                        code_obj = self._compile(src + "\n", f"<doctest {i + 1}>", "single")
                    else:
                        code_obj = self._compile(src, f"<test {i + 1}>", "exec")
                except BaseException as exc:  # noqa: BLE001 - doctest reports these as the example's exception
                    obs = {"out": "", "truncated": False, "exc": _exc_info(exc, 0), "timed_out": False}
                else:
                    obs = self._run(code_obj, ns, "")
            self.send(dict(obs, phase="test", i=i))
            if obs["timed_out"] and self.job.get("stop_at_timeout", True):
                break  # the verdict is fixed (runtime, timed out): the remaining tests would only cost time
        self.send({"phase": "done"})


    def run_script(self, program, test: dict) -> dict:
        """In a fresh fork: the whole program as ``__main__`` with the test's stdin, then
        (optionally) its expression, whose repr is the observed output."""
        ns = {"__name__": "__main__", "__builtins__": builtins}
        obs = self._run(program, ns, test.get("stdin") or "", clean_exit_ok=True)
        expression = test["source"]
        if not expression.strip() or obs["exc"] is not None or obs["timed_out"]:
            return obs
        try:
            code_obj = self._compile(expression + "\n", "<script test>", "single")
        except BaseException as exc:  # noqa: BLE001 - reported as the test's exception
            return {"out": "", "truncated": False, "exc": _exc_info(exc, 0), "timed_out": False}
        return self._run(code_obj, ns, "")


class _ScriptRunner:
    """Forks, before any student code runs, a process that stays pristine and forks one
    fresh child per ``script`` test: each test sees the program run from scratch (no
    module, global or builtin changed by the top-level run or by an earlier test)."""

    def __init__(self, harness: Harness, program) -> None:
        self.harness = harness
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(self.cmd_w)
            os.close(self.res_r)
            self._serve(program, cmd_r, res_w)
            os._exit(0)
        os.close(cmd_r)
        os.close(res_w)

    def run(self, i: int) -> dict:
        """Observation of script test ``i`` (the server enforces its time limit)."""
        try:
            os.write(self.cmd_w, b"%d\n" % i)
            obs = read_frame(self.res_r)
        except (OSError, EOFError, FrameError):
            obs = None
        if not isinstance(obs, dict) or not isinstance(obs.get("out"), str):
            return {"out": "", "truncated": False, "timed_out": False,
                    "exc": {"type": "RuntimeError", "msg": "RuntimeError: the test's fresh run reported nothing\n",
                            "line": None}}
        return obs

    def _serve(self, program, cmd_r: int, res_w: int) -> None:
        h = self.harness
        h.pid = os.getpid()
        lines = os.fdopen(cmd_r, "rb", buffering=0)
        deadline_s = h.timeout + 0.15  # the child's own alarm fires first; this catches one that ignores it
        for line in lines:
            test = h.job["tests"][int(line)]
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                h.pid = os.getpid()
                try:
                    obs = h.run_script(program, test)
                    write_frame(w, obs)
                finally:
                    os._exit(0)
            os.close(w)
            obs = None
            if select.select([r], [], [], deadline_s)[0]:
                try:
                    obs = read_frame(r)
                except (OSError, EOFError, FrameError):
                    obs = None
            else:
                obs = {"out": "", "truncated": False, "exc": None, "timed_out": True}
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
            os.close(r)
            write_frame(res_w, obs if obs is not None else {})


# Kinds judged in the namespace the top-level code leaves (run once, in order).
SHARED_NAMESPACE_KINDS = ("doctest", "assert")


def _exit_builtin(code=None):
    raise SystemExit(code)


def run_job(job: dict, result_fd: int, nonce: str) -> None:
    """Entry point in the child; never returns (os._exit ends the child and its threads)."""
    status = 0
    try:
        # Without `site`, exit()/quit() are missing; students call them.
        for name in ("exit", "quit"):
            if not hasattr(builtins, name):
                setattr(builtins, name, _exit_builtin)
        sys.breakpointhook = lambda *a, **k: None
        Harness(job, result_fd, nonce).run()
    except BaseException:  # noqa: BLE001 - the worker sees the missing 'done' frame
        status = 70
    os._exit(status)
