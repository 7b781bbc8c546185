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
import signal
import sys
import traceback

from wire import write_frame  # noqa: E402  (imported as a sibling inside the sandbox)

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

        ns: dict = {"__name__": "submission", "__builtins__": builtins}
        if any(t["kind"] != "io" for t in tests):
            # Top-level code runs once; doctest and assert tests share its namespace.
            top = self._run(program, ns, "")
            self.send(dict(top, phase="toplevel"))
            if top["exc"] is not None or top["timed_out"]:
                return
        for i, test in enumerate(tests):
            kind, src = test["kind"], test["source"]
            if kind == "io":
                obs = self._run(program, {"__name__": "__main__", "__builtins__": builtins}, src, clean_exit_ok=True)
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
