"""Turn a worker's observations into a GradeResult: judge each test, classify errors.

Judging happens here, in the grader's own process: the sandboxed child only reports
what it saw (stdout, exception), never the expected output, so nothing student code
writes can decide a pass. Doctest examples are judged exactly as the ``doctest``
module judges them (``OutputChecker`` on the printed text, exceptions by their last
traceback line, ``# doctest:`` directives honoured).
"""

from __future__ import annotations

import doctest
import functools
import signal
from typing import Optional

from simstudent.grader.feedback import render_feedback
from simstudent.schema import GradeResult, IsolationLevel, Problem, TestCase, TestOutcome

_PARSER = doctest.DocTestParser()
_CHECKER = doctest.OutputChecker()
TRUNCATED_NOTE = "\n...(output truncated)"
NOT_RUN = "not run: the verdict was already fixed when"  # + " test N timed out"


@functools.lru_cache(maxsize=4096)
def doctest_example(source: str, expected: str) -> doctest.Example:
    """Rebuild the doctest Example (options, exc_msg) of a TestCase."""
    lines = source.split("\n")
    text = "\n".join([">>> " + lines[0]] + ["... " + line for line in lines[1:]])
    if expected:
        text += "\n" + expected
    examples = _PARSER.get_examples(text + "\n")
    if len(examples) == 1:
        return examples[0]
    return doctest.Example(source + "\n", expected + "\n" if expected else "")  # unusual source: no directives


def _flags(example: doctest.Example) -> int:
    flags = 0
    for flag, on in example.options.items():
        flags = (flags | flag) if on else (flags & ~flag)
    return flags


def _last_line(exc: dict) -> str:
    return exc["msg"].strip().splitlines()[-1] if exc["msg"].strip() else exc["type"]


def judge(test: TestCase, obs: dict, timeout_s: float) -> TestOutcome:
    """One test's outcome from the child's observation of it."""
    out = obs["out"] + (TRUNCATED_NOTE if obs.get("truncated") else "")
    base = dict(name=test.name, source=test.source, expected=test.expected if test.kind != "assert" else None)
    if obs["timed_out"]:
        return TestOutcome(**base, passed=False, got=out or None, timed_out=True,
                           exception=f"TimeoutError: the test ran longer than {timeout_s:g} s")
    exc = obs["exc"]
    if test.kind == "doctest":
        ex = doctest_example(test.source, test.expected)
        flags = _flags(ex)
        if exc is None:
            return TestOutcome(**base, passed=_CHECKER.check_output(ex.want, obs["out"], flags), got=out)
        if ex.exc_msg is None:  # raised, nothing was expected to: an error, as doctest's "BOOM"
            return TestOutcome(**base, passed=False, got=out or None, exception=_last_line(exc))
        ok = _CHECKER.check_output(ex.exc_msg, exc["msg"], flags)
        if not ok and flags & doctest.IGNORE_EXCEPTION_DETAIL:
            ok = _CHECKER.check_output(ex.exc_msg.split(":")[0].split(".")[-1], exc["msg"].split(":")[0].split(".")[-1], flags)
        # Raising the wrong exception where one was expected is a wrong answer, not a crash.
        return TestOutcome(**base, passed=ok, got="Traceback (most recent call last):\n  ...\n" + exc["msg"].rstrip())
    if test.kind == "assert":
        if exc is None:
            return TestOutcome(**base, passed=True, got=out or None)
        if exc["type"] == "AssertionError":
            return TestOutcome(**base, passed=False, got=_last_line(exc))
        return TestOutcome(**base, passed=False, got=out or None, exception=_last_line(exc))
    if test.kind == "script" and test.source.strip():
        # The expression's value, printed as its repr, compared as doctest compares.
        if exc is not None:
            return TestOutcome(**base, passed=False, got=out or None, exception=_last_line(exc))
        want = test.expected + "\n" if test.expected else ""
        return TestOutcome(**base, passed=_CHECKER.check_output(want, obs["out"], 0), got=out)
    # io (and script without an expression): the program's stdout, trailing whitespace ignored
    if exc is not None:
        return TestOutcome(**base, passed=False, got=out or None, exception=_last_line(exc))
    return TestOutcome(**base, passed=_normalise(obs["out"]) == _normalise(test.expected), got=out)


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def _crash_reason(resp: dict) -> str:
    if resp.get("tampered"):
        return f"the program tampered with the grader's result channel ({resp['tampered']})"
    sig = resp.get("exit_signal")
    if sig:
        if sig == signal.SIGXCPU:
            return "the program used up its CPU time limit"
        try:
            name = signal.Signals(sig).name
            desc = signal.strsignal(sig) or name
        except ValueError:
            name, desc = f"signal {sig}", f"signal {sig}"
        return f"the program was killed by {name} ({desc})"
    code = resp.get("exit_code")
    if code is not None:
        return f"the program exited (status {code}) before the tests finished"
    return "the program stopped before the tests finished"


def build_result(problem: Problem, resp: dict, *, isolation: IsolationLevel, duration: float,
                 timeout_s: float, wall_s: float) -> GradeResult:
    """The GradeResult for ``problem`` from a worker answer ``resp``."""
    tests = problem.tests
    total = len(tests)
    r = dict(isolation=isolation, duration_s=round(duration, 6), total=total)

    def not_run(reason: str, timed_out_at: Optional[int] = None, start: int = 0) -> list[TestOutcome]:
        return [TestOutcome(name=t.name, source=t.source, passed=False,
                            expected=t.expected if t.kind != "assert" else None,
                            timed_out=(i == timed_out_at), exception=reason)
                for i, t in enumerate(tests) if i >= start]

    def finish(error_type, outcomes, message=None, timed_out=False, before_tests=None) -> GradeResult:
        passed = sum(o.passed for o in outcomes) if error_type != "compile" else 0
        res = GradeResult(error_type=error_type, passed=passed, tests=outcomes, error_message=message,
                          timed_out=timed_out, **r)
        res.feedback = render_feedback(problem, res, before_tests=before_tests)
        return res

    if resp.get("worker_error"):
        msg = resp["worker_error"]
        return finish("runtime", not_run(msg), msg, timed_out=bool(resp.get("timed_out")), before_tests="crashed the grader")
    if resp.get("compile_error") is not None:
        return finish("compile", not_run("not run: the code does not compile"), resp["compile_error"].strip())
    if resp.get("tampered"):
        msg = _crash_reason(resp)
        return finish("runtime", not_run(msg), msg, before_tests="broke the test run")
    top = resp.get("toplevel")
    if top is not None and (top["exc"] is not None or top["timed_out"]):
        if top["timed_out"]:
            msg = f"TimeoutError: the top-level code ran longer than {timeout_s:g} s"
        else:
            msg = top["exc"]["msg"].strip()
            if top["exc"].get("line"):
                msg += f" (line {top['exc']['line']})"
        what = "timed out" if top["timed_out"] else "raised an error"
        return finish("runtime", not_run("not run: the top-level code raised"), msg, timed_out=top["timed_out"],
                      before_tests=what)

    outcomes = [judge(t, o, timeout_s) for t, o in zip(tests, resp.get("tests", []))]
    done = bool(resp.get("done"))
    timed_out = any(o.timed_out for o in outcomes)
    message = None
    k = len(outcomes)
    if done and k < total:  # the harness stopped at a timed-out test: the verdict was fixed
        outcomes += not_run(f"{NOT_RUN} test {k} timed out", start=k)
    elif not done:
        if resp.get("timed_out") or resp.get("exit_signal") == signal.SIGXCPU:
            timed_out = True
            where = "the whole submission" if resp.get("timeout_phase") == "wall" else "a test"
            limit = wall_s if resp.get("timeout_phase") == "wall" else timeout_s
            message = f"TimeoutError: {where} ran longer than {limit:g} s and was killed"
            if top is None and k == 0 and any(t.kind in ("doctest", "assert") for t in tests):
                return finish("runtime", not_run("not run: the top-level code did not finish"), message, True,
                              before_tests="timed out")
            outcomes += not_run(message, timed_out_at=k, start=k)[:1]
            outcomes += not_run(f"{NOT_RUN} test {k + 1} timed out", start=k + 1)
        else:
            message = _crash_reason(resp)
            outcomes += not_run(message, start=k)
    if message is None and any(o.timed_out for o in outcomes):
        message = next(o.exception for o in outcomes if o.timed_out)
    if not done or any(o.exception is not None for o in outcomes) or timed_out:
        return finish("runtime", outcomes, message, timed_out)
    if any(not o.passed for o in outcomes):
        return finish("logical", outcomes)
    return finish("no_error", outcomes)
