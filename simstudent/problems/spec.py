"""Read problem specs (one TOML file per problem) into :class:`Problem` objects.

A spec lives at ``scenarios/<course>/<id>.toml``; the course is the name of the
folder it sits in. Every error names the file and the field it is about, so a
broken spec can be fixed without reading this code. The format is described in
``docs/problems.md``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from simstudent.grader.doctests import parse_doctests
from simstudent.schema import Problem, TestCase
from simstudent.errors import MissingFileError, NotFoundError, SimstudentError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PathLike = Union[str, Path]

# Folders under scenarios/ that hold something other than problem specs.
NON_COURSE_DIRS = frozenset({"personas"})

TEST_KINDS = ("assert", "io", "doctest", "script")

# key -> (required, expected python type, human name of the type)
_STR = (str, "a string")
_FIELDS: dict[str, tuple[bool, tuple[type, str]]] = {
    "id": (True, _STR),
    "title": (True, _STR),
    "instructions": (True, _STR),
    "skeleton_code": (True, _STR),
    "reference_solution": (True, _STR),
    "course": (False, _STR),  # optional; must equal the folder name when given
    "homework": (False, _STR),
    "topic": (False, _STR),
    "function_name": (False, _STR),
    "fixed_code": (False, _STR),
    "doctests": (False, _STR),
    "tags": (False, (list, "a list of strings")),
    "tests": (False, (list, "an array of tables ([[tests]])")),
}
_TEST_FIELDS: dict[str, tuple[bool, tuple[type, str]]] = {
    "kind": (True, _STR),
    "source": (False, _STR),  # required except for script tests (there: an optional expression)
    "expected": (False, _STR),
    "name": (False, _STR),
    "stdin": (False, _STR),  # script tests only
}


class ProblemSpecError(SimstudentError, ValueError):
    """A problem spec that cannot be loaded: which file, which field, what is wrong."""

    def __init__(self, path: PathLike, field: str, message: str):
        self.path = Path(path)
        self.field = field
        self.message = message
        super().__init__(f"{self.path}: {field}: {message}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ProblemSpecError(path, "(file)", "no such file") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already carries "(at line N, column M)".
        raise ProblemSpecError(path, "(toml)", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ProblemSpecError(path, "(file)", f"not UTF-8 text: {exc}") from None


def _check_fields(
    path: Path, table: dict[str, Any], schema: dict[str, tuple[bool, tuple[type, str]]], where: str
) -> None:
    """Unknown keys, missing required keys and wrong types, each named."""
    for key in table:
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ProblemSpecError(path, f"{where}{key}", f"unknown key (known keys: {known})")
    for key, (required, (typ, type_name)) in schema.items():
        if key not in table:
            if required:
                raise ProblemSpecError(path, f"{where}{key}", "missing (required)")
            continue
        value = table[key]
        if not isinstance(value, typ):
            raise ProblemSpecError(
                path, f"{where}{key}", f"must be {type_name}, got {type(value).__name__}"
            )


def _check_doctest_sources(path: Path, field: str, tests: list[TestCase]) -> None:
    """Every example must be valid Python, or the grader would blame the student."""
    for i, case in enumerate(tests, 1):
        try:
            compile(case.source, f"<{field} example {i}>", "single")
        except SyntaxError as exc:
            raise ProblemSpecError(
                path, field, f"example {i} ({case.source.splitlines()[0]!r}) is not valid Python: {exc.msg}"
            ) from None


def _parse_doctest_field(path: Path, field: str, text: str, prefix: str) -> list[TestCase]:
    try:
        tests = parse_doctests(text, name_prefix=prefix)
    except ValueError as exc:  # doctest's parser: bad indentation, missing space after >>>
        raise ProblemSpecError(path, field, f"doctests do not parse: {exc}") from None
    _check_doctest_sources(path, field, tests)
    return tests


def _extra_tests(path: Path, raw: list[Any]) -> list[TestCase]:
    """The ``[[tests]]`` tables as TestCases."""
    out: list[TestCase] = []
    for i, table in enumerate(raw):
        where = f"tests[{i}]."
        if not isinstance(table, dict):
            raise ProblemSpecError(path, f"tests[{i}]", "must be a table ([[tests]])")
        _check_fields(path, table, _TEST_FIELDS, where)
        kind = table["kind"]
        if kind not in TEST_KINDS:
            raise ProblemSpecError(
                path, f"{where}kind", f"unknown test kind {kind!r} (use one of {', '.join(TEST_KINDS)})"
            )
        source = table.get("source", "")
        if not source.strip() and kind != "script":
            raise ProblemSpecError(path, f"{where}source", "is missing or empty")
        if "stdin" in table and kind != "script":
            raise ProblemSpecError(path, f"{where}stdin", f"only script tests take stdin (an {kind} test's input "
                                                           "is its source)" if kind == "io" else
                                   "only script tests take stdin")
        name = table.get("name") or f"test {i + 1}"
        if kind == "doctest" and source.lstrip().startswith(">>>") and "expected" not in table:
            # A block of doctest text; it may hold several examples.
            out.extend(_parse_doctest_field(path, f"{where}source", source, name))
            continue
        if kind == "doctest":
            _check_doctest_sources(path, f"{where}source", [TestCase(kind="doctest", source=source)])
        elif kind == "assert":
            try:
                compile(source, f"<{where}source>", "exec")
            except SyntaxError as exc:
                raise ProblemSpecError(path, f"{where}source", f"is not valid Python: {exc.msg}") from None
        elif kind == "script" and source.strip():
            try:
                compile(source, f"<{where}source>", "eval")
            except SyntaxError as exc:
                raise ProblemSpecError(path, f"{where}source", f"is not a Python expression: {exc.msg}") from None
        out.append(TestCase(kind=kind, source=source, expected=table.get("expected", ""), name=name,
                            stdin=table.get("stdin", "")))
    return out


def docstring_doctests(code: str, name_prefix: str = "doctest") -> list[TestCase]:
    """The doctest examples in the docstrings of ``code`` (module, classes,
    functions, methods), in source order. Raises SyntaxError if ``code`` does not
    compile, ValueError if an example is malformed."""
    texts = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                texts.append((getattr(node, "lineno", 0), doc))
    # ast.walk is breadth-first; sort so examples keep the order they are read in.
    return parse_doctests("\n\n".join(d for _, d in sorted(texts, key=lambda t: t[0])), name_prefix)


def load_problem_file(path: PathLike) -> Problem:
    """Load one spec file. The course is the name of the folder it sits in.

    Raises :class:`ProblemSpecError` (naming file and field) when the file is not
    valid TOML, a required key is missing, a key is unknown or has the wrong type,
    ``id`` differs from the file name, a test has an unknown kind, or a doctest does
    not parse. The semantic checks (the reference solution passes, the skeleton
    fails) need a grader: see :func:`simstudent.problems.validate_problem`.
    """
    path = Path(path)
    data = _read_toml(path)
    _check_fields(path, data, _FIELDS, "")
    if data["id"] != path.stem:
        raise ProblemSpecError(path, "id", f"{data['id']!r} must equal the file name {path.stem!r}")
    if data.get("course", path.parent.name) != path.parent.name:
        raise ProblemSpecError(
            path,
            "course",
            f"{data['course']!r} must equal the folder name {path.parent.name!r} (or be left out)",
        )
    tags = data.get("tags", [])
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            raise ProblemSpecError(path, f"tags[{i}]", f"must be a string, got {type(tag).__name__}")

    if "doctests" in data:
        tests = _parse_doctest_field(path, "doctests", data["doctests"], "doctest")
    else:
        # No separate doctests: the examples in the skeleton's docstrings are the tests.
        try:
            tests = docstring_doctests(data["skeleton_code"])
        except SyntaxError as exc:
            raise ProblemSpecError(
                path, "skeleton_code", f"does not compile (line {exc.lineno}: {exc.msg})"
            ) from None
        except ValueError as exc:
            raise ProblemSpecError(path, "skeleton_code", f"doctests do not parse: {exc}") from None
        _check_doctest_sources(path, "skeleton_code", tests)
    tests += _extra_tests(path, data.get("tests", []))

    return Problem(
        id=data["id"],
        title=data["title"],
        homework=data.get("homework", ""),
        topic=data.get("topic", ""),
        instructions=data["instructions"],
        fixed_code=data.get("fixed_code", ""),
        skeleton_code=data["skeleton_code"],
        tests=tests,
        reference_solution=data["reference_solution"],
        tags=list(tags),
        function_name=data.get("function_name") or None,
        course=path.parent.name,
    )


def scenarios_dir() -> Path:
    """The bundled ``scenarios/`` folder."""
    from simstudent.paths import SCENARIOS_DIR

    return SCENARIOS_DIR


def course_dirs(root: Optional[PathLike] = None) -> list[Path]:
    """Every course folder under ``root`` (default: the bundled scenarios)."""
    base = Path(root) if root is not None else scenarios_dir()
    if not base.is_dir():
        return []
    return sorted(
        p
        for p in base.iterdir()
        if p.is_dir() and p.name not in NON_COURSE_DIRS and not p.name.startswith((".", "_"))
    )


def resolve_course(dir_or_course: PathLike) -> Path:
    """A folder path as given, or the name of a course under ``scenarios/``."""
    path = Path(dir_or_course)
    if path.is_dir():
        return path
    named = scenarios_dir() / str(dir_or_course)
    if named.is_dir():
        return named
    known = ", ".join(p.name for p in course_dirs()) or "none"
    raise MissingFileError(f"no problem folder or course named {str(dir_or_course)!r} (courses: {known})")


def spec_files(paths: Iterable[PathLike]) -> list[Path]:
    """The spec files named by ``paths``: files as given, folders expanded to their ``*.toml``."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(p.glob("*.toml")) if p.is_dir() else [p])
    return out


def load_problems(dir_or_course: PathLike) -> dict[str, Problem]:
    """Every spec in a folder (or in ``scenarios/<course>``), keyed by id, sorted."""
    folder = resolve_course(dir_or_course)
    problems = [load_problem_file(f) for f in spec_files([folder])]
    return {p.id: p for p in sorted(problems, key=lambda p: p.id)}


def load_all_problems(root: Optional[PathLike] = None) -> dict[str, Problem]:
    """Every spec of every course under ``root``, keyed ``<course>/<id>``."""
    out: dict[str, Problem] = {}
    for folder in course_dirs(root):
        for pid, problem in load_problems(folder).items():
            out[f"{problem.course}/{pid}"] = problem
    return out


def find_problem(problem_id: str, search: Optional[Iterable[PathLike]] = None) -> Problem:
    """The spec with this id, looked up in ``search`` folders (default: every course
    under ``scenarios/``). ``course/id`` picks a course; an id found in two courses
    without one is an error, as is an unknown id."""
    if "/" in problem_id:
        course, _, pid = problem_id.rpartition("/")
        folder = resolve_course(course)
        if not (folder / f"{pid}.toml").is_file():
            return _not_found(pid, [folder])
        return load_problem_file(folder / f"{pid}.toml")
    folders = [Path(s) for s in search] if search is not None else course_dirs()
    hits = [f / f"{problem_id}.toml" for f in folders if (f / f"{problem_id}.toml").is_file()]
    if not hits:
        return _not_found(problem_id, folders)
    if len(hits) > 1:
        where = ", ".join(f"{h.parent.name}/{problem_id}" for h in hits)
        raise NotFoundError(f"problem id {problem_id!r} is in several courses; name one of: {where}")
    return load_problem_file(hits[0])


def _not_found(problem_id: str, folders: list[Path]) -> Problem:
    where = ", ".join(str(f) for f in folders) or "(no course folders)"
    raise NotFoundError(f"no problem {problem_id!r} in {where}")
