"""The text an autograder prints (okpy style): what the simulated student reads.

It shows the first failing test as typed at the prompt (``>>>`` lines), then the
expected against the actual output, or the last line of the traceback, and ends
with "N test cases passed" / "M test cases failed".
"""

from __future__ import annotations

from typing import Optional

from simstudent.schema import GradeResult, Problem, TestCase, TestOutcome

RULE = "-" * 69


def _prompt(source: str) -> list[str]:
    lines = source.split("\n")
    return [">>> " + lines[0]] + ["... " + line for line in lines[1:]]


MAX_LINES, MAX_LINE_CHARS = 30, 240  # feedback is read by a model: keep it short


def _comment_block(text: Optional[str]) -> list[str]:
    body = (text or "").rstrip("\n")
    if not body:
        return ["#     (nothing)"]
    lines = body.split("\n")
    shown = [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "..." for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"... ({len(lines) - MAX_LINES} more lines)")
    return ["#     " + line for line in shown]


def _test_lines(test: TestCase, outcome: TestOutcome) -> list[str]:
    lines: list[str] = []
    if test.kind in ("io", "script"):
        stdin = test.source if test.kind == "io" else test.stdin
        if test.kind == "script":
            lines.append("# Your program was run from the start, on its own, with this input:")
        lines += ["Input:"] + ["    " + line for line in (stdin.rstrip("\n").split("\n") if stdin else ["(none)"])]
        if test.kind == "script" and test.source.strip():
            lines += ["then:"] + _prompt(test.source)
    else:
        lines += _prompt(test.source)
    if outcome.timed_out:
        lines.append(f"# Error: {outcome.exception or 'the test timed out'}")
        lines.append("# Check for an infinite loop or a recursion that never reaches its base case.")
        return lines
    if outcome.exception is not None:
        if test.kind not in ("io", "script") or outcome.got is None:
            exc = outcome.exception
            lines += ["Traceback (most recent call last):", "  ...", exc if len(exc) <= 500 else exc[:500] + "..."]
        if test.kind == "assert":
            lines.append("# Error: the test raised an exception")
        else:
            lines += ["# Error: expected"] + _comment_block(outcome.expected) + ["# but got an exception"]
        return lines
    if test.kind == "assert":
        lines.append("# Error: assertion failed" + (f" ({outcome.got})" if outcome.got not in (None, "AssertionError") else ""))
        return lines
    lines += ["# Error: expected"] + _comment_block(outcome.expected) + ["# but got"] + _comment_block(outcome.got)
    return lines


def render_feedback(problem: Problem, result: GradeResult, *, before_tests: Optional[str] = None) -> str:
    """okpy-like feedback for ``result`` on ``problem``. ``before_tests`` names what
    went wrong when no test could run (e.g. "raised an error"); the error message
    is shown instead of a test."""
    kinds = {t.kind for t in problem.tests}
    label = "Doctests" if kinds == {"doctest"} else "Tests"
    name = problem.function_name or problem.id
    lines = [RULE, f"{label} for {name}", ""]
    if result.error_type == "compile":
        lines += ["# Error: your code does not compile"] + _comment_block(result.error_message)
    elif before_tests:
        lines += [f"# Error: your code {before_tests} before the tests could run"] + _comment_block(result.error_message)
    else:
        first = _first_failure(problem, result)
        if first is not None:
            lines += _test_lines(*first)
        elif result.error_type == "runtime" and result.error_message:
            lines.append("# Error: " + result.error_message)
        else:
            lines.append("All tests passed!" if result.total else "There are no tests for this problem.")
    skipped = [o.name or f"test {i + 1}" for i, o in enumerate(result.tests)
               if (o.exception or "").startswith("not run")] if result.error_type != "compile" else []
    if skipped:
        why = "the code above failed first" if before_tests else "a test timed out"
        lines += ["", f"# Not run ({why}, so the result was already decided): " + ", ".join(skipped)]
    failed = result.total - result.passed
    lines += ["", RULE, "Test summary", f"    {result.passed} test cases passed"]
    if failed:
        lines.append(f"    {failed} test cases failed")
    return "\n".join(lines) + "\n"


def _first_failure(problem: Problem, result: GradeResult):
    for test, outcome in zip(problem.tests, result.tests):
        if not outcome.passed:
            return test, outcome
    return None
