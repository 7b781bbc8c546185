"""Check that a loaded problem is usable: well-formed fields, a reference solution
that passes every test, and a skeleton that does not.

These checks need a grader (they run code), so they live apart from the loader.
Each error is one string that starts with the field it is about.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Iterable

from simstudent.problems.spec import docstring_doctests
from simstudent.schema import GradeResult, Problem

if TYPE_CHECKING:  # only for type hints; the caller passes a grader in
    from simstudent.grader import Grader


def _top_level_names(code: str) -> set[str]:
    """Names a module binds at top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _static_errors(problem: Problem) -> list[str]:
    """Checks that need no grader."""
    errors: list[str] = []
    if not problem.title.strip():
        errors.append("title: is empty")
    if not problem.instructions.strip():
        errors.append("instructions: is empty")
    if not problem.tests:
        errors.append("tests: the problem has no tests (add doctests or [[tests]])")
    if not (problem.reference_solution or "").strip():
        errors.append("reference_solution: is empty")
    compiles = True
    for field in ("fixed_code", "skeleton_code", "reference_solution"):
        code = getattr(problem, field) or ""
        try:
            ast.parse(code)
        except SyntaxError as exc:
            compiles = False
            errors.append(f"{field}: does not compile (line {exc.lineno}: {exc.msg})")
    if problem.function_name and compiles:
        defined = _top_level_names(problem.fixed_code) | _top_level_names(problem.reference_solution or "")
        if problem.function_name not in defined:
            errors.append(
                f"function_name: {problem.function_name!r} is not defined by the reference solution"
            )
        elif problem.function_name not in _top_level_names(problem.skeleton_code) | _top_level_names(
            problem.fixed_code
        ):
            errors.append(f"function_name: {problem.function_name!r} is not defined by the skeleton")
    return errors


def _describe_failure(result: GradeResult) -> str:
    """The first failing test (or the error) in one line."""
    if result.error_message:
        return f"{result.error_type}: {result.error_message.strip().splitlines()[-1]}"
    for t in result.tests:
        if not t.passed:
            what = t.exception or f"expected {t.expected!r}, got {t.got!r}"
            first = (t.source or t.name).splitlines()[0] if (t.source or t.name) else "?"
            return f"{result.error_type}: {first} -> {what}"
    feedback = result.feedback.strip().splitlines()
    return f"{result.error_type}: {feedback[0] if feedback else 'no failing test reported'}"


def validate_problems(problems: Iterable[Problem], grader: "Grader") -> dict[str, list[str]]:
    """Validate many problems with one batch of grading; maps each id to its errors
    (an empty list when the problem is fine). See :func:`validate_problem`."""
    problems = list(problems)
    errors: dict[str, list[str]] = {}
    jobs: list[tuple[str, str, Problem, str]] = []  # (key, check, problem, code)
    for p in problems:
        key = f"{p.course}/{p.id}"
        errors[key] = _static_errors(p)
        if errors[key]:
            continue  # running code that does not compile would only repeat the errors
        jobs.append((key, "reference", p, p.reference_solution or ""))
        jobs.append((key, "skeleton", p, p.skeleton_code))
        # The examples in the skeleton's docstring are what the student reads: they
        # must hold for the reference solution even when the graded tests differ.
        shown = docstring_doctests(p.skeleton_code, name_prefix="skeleton example")
        if shown and [(t.source, t.expected) for t in shown] != [
            (t.source, t.expected) for t in p.tests if t.kind == "doctest"
        ][: len(shown)]:
            jobs.append((key, "examples", p.model_copy(update={"tests": shown}), p.reference_solution or ""))

    results = grader.grade_many([(prob, code) for _, _, prob, code in jobs]) if jobs else []
    for (key, check, _, _), result in zip(jobs, results):
        if check == "reference" and (result.error_type != "no_error" or result.passed != result.total):
            errors[key].append(
                f"reference_solution: fails {result.total - result.passed} of {result.total} tests "
                f"({_describe_failure(result)})"
            )
        elif check == "skeleton" and result.error_type == "no_error":
            errors[key].append("skeleton_code: passes every test (it must fail at least one)")
        elif check == "examples" and result.error_type != "no_error":
            errors[key].append(
                f"skeleton_code: a docstring example fails with the reference solution "
                f"({_describe_failure(result)})"
            )
    return errors


def validate_problem(problem: Problem, grader: "Grader") -> list[str]:
    """Every problem with ``problem`` as a list of ``"field: message"`` strings
    (empty when it is fine): title and instructions non-empty, at least one test,
    code that compiles, ``function_name`` defined by the reference solution and the
    skeleton, the reference solution passing every test (``no_error``), the skeleton
    failing at least one, and the skeleton's docstring examples holding for the
    reference solution."""
    return next(iter(validate_problems([problem], grader).values()))
