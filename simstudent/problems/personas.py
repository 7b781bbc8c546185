"""Hand-written demo personas: ``simstudent/scenarios/personas/<id>.toml``.

A persona file holds an id, a description, a list of habits and the student's own
past work: one ``[[history]]`` table per earlier problem with the attempts in the
order they were made. Real students become personas through
:meth:`simstudent.schema.Persona.from_dataset` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from simstudent.problems.spec import ProblemSpecError, _read_toml, find_problem, scenarios_dir
from simstudent.schema import Persona, Problem, Stream, Submission
from simstudent.errors import NotFoundError

if TYPE_CHECKING:  # the grader is optional here and imported only for type hints
    from simstudent.grader import Grader

_KEYS = {"id", "description", "habits", "history"}
_HISTORY_KEYS = {"problem_id", "attempts"}


def personas_dir() -> Path:
    """The bundled ``simstudent/scenarios/personas/`` folder."""
    return scenarios_dir() / "personas"


def list_personas(folder: Optional[Path] = None) -> list[str]:
    """Ids of every persona file in ``folder`` (default: the bundled ones)."""
    folder = folder or personas_dir()
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def _persona_path(id_or_path: Union[str, Path]) -> Path:
    path = Path(id_or_path)
    if path.suffix == ".toml" or path.is_file():
        return path
    candidate = personas_dir() / f"{id_or_path}.toml"
    if candidate.is_file():
        return candidate
    known = ", ".join(list_personas()) or "none"
    raise NotFoundError(f"no persona {str(id_or_path)!r} in {personas_dir()} (personas: {known})")


def _str_list(path: Path, field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProblemSpecError(path, field, "must be a list of strings")
    return value


def load_persona(
    id_or_path: Union[str, Path],
    *,
    problem_search: Optional[list[Path]] = None,
    grader: Optional["Grader"] = None,
) -> Persona:
    """A persona from ``simstudent/scenarios/personas/<id>.toml`` (or a path to such a file).

    ``history`` holds one Stream per ``[[history]]`` table (submissions ordered
    0..n-1, student id = persona id) and ``problems`` the specs of those problems,
    found with :func:`find_problem` (in ``problem_search`` folders when given).
    With a ``grader``, every past attempt is graded and its verdict stored.
    Errors name the file and field.
    """
    path = _persona_path(id_or_path)
    data = _read_toml(path)
    for key in data:
        if key not in _KEYS:
            raise ProblemSpecError(path, key, f"unknown key (known keys: {', '.join(sorted(_KEYS))})")
    pid = data.get("id")
    if not isinstance(pid, str) or not pid:
        raise ProblemSpecError(path, "id", "missing or not a string")
    if pid != path.stem:
        raise ProblemSpecError(path, "id", f"{pid!r} must equal the file name {path.stem!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ProblemSpecError(path, "description", "must be a string")
    habits = _str_list(path, "habits", data.get("habits", []))
    raw_history = data.get("history", [])
    if not isinstance(raw_history, list):
        raise ProblemSpecError(path, "history", "must be an array of tables ([[history]])")

    history: list[Stream] = []
    problems: dict[str, Problem] = {}
    for i, entry in enumerate(raw_history):
        where = f"history[{i}]"
        if not isinstance(entry, dict):
            raise ProblemSpecError(path, where, "must be a table ([[history]])")
        for key in entry:
            if key not in _HISTORY_KEYS:
                raise ProblemSpecError(path, f"{where}.{key}", "unknown key (use problem_id, attempts)")
        problem_id = entry.get("problem_id")
        if not isinstance(problem_id, str):
            raise ProblemSpecError(path, f"{where}.problem_id", "missing or not a string")
        attempts = _str_list(path, f"{where}.attempts", entry.get("attempts"))
        if not attempts:
            raise ProblemSpecError(path, f"{where}.attempts", "needs at least one attempt")
        try:
            problems[problem_id] = find_problem(problem_id, search=problem_search)
        except (KeyError, LookupError) as exc:
            raise ProblemSpecError(path, f"{where}.problem_id", str(exc.args[0])) from None
        history.append(
            Stream(
                student_id=pid,
                problem_id=problem_id,
                submissions=[Submission(code=code, order=k) for k, code in enumerate(attempts)],
            )
        )

    if grader is not None:
        pairs = [(problems[s.problem_id], sub.code) for s in history for sub in s.submissions]
        results = iter(grader.grade_many(pairs))
        for stream in history:
            for sub in stream.submissions:
                sub.grade = next(results)
                sub.recorded_correct = sub.grade.error_type == "no_error"

    return Persona(
        id=pid,
        description=description.strip(),
        habits=list(habits),
        history=history,
        problems=problems,
        source=f"file:{path}",
    )
