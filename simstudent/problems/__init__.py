"""Problem specs (one TOML file per problem under ``scenarios/<course>/``), their
validation, and the hand-written demo personas. The format is in ``docs/problems.md``.
"""

from simstudent.problems.attach import attach_problems
from simstudent.problems.personas import list_personas, load_persona, personas_dir
from simstudent.problems.spec import (
    ProblemSpecError,
    course_dirs,
    find_problem,
    load_all_problems,
    load_problem_file,
    load_problems,
    spec_files,
)
from simstudent.problems.validate import validate_problem, validate_problems

__all__ = [
    "ProblemSpecError",
    "attach_problems",
    "course_dirs",
    "find_problem",
    "list_personas",
    "load_all_problems",
    "load_persona",
    "load_problem_file",
    "load_problems",
    "personas_dir",
    "spec_files",
    "validate_problem",
    "validate_problems",
]
