"""One user-facing error base: the CLI prints SimstudentError on one line (exit 2), bugs keep their traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import simstudent
from simstudent.cli import app
from simstudent.errors import ConfigError, InputError, MissingFileError, NotFoundError, SetupError, SimstudentError

runner = CliRunner()
CLI_DIR = Path(simstudent.__file__).parent / "cli"


def test_every_user_facing_error_class_derives_from_the_base():
    from simstudent.agent.cohort import CohortError
    from simstudent.data.errors import DataError
    from simstudent.experiments.runfolder import RunFolderError
    from simstudent.grader.sandbox import IsolationUnavailable
    from simstudent.models.errors import AuthError, BackendError, DefaultModelMissing, ModelNotFoundError, QuotaError
    from simstudent.problems.spec import ProblemSpecError

    for cls in (DataError, ProblemSpecError, CohortError, BackendError, AuthError, QuotaError, ModelNotFoundError,
                DefaultModelMissing, RunFolderError, IsolationUnavailable, ConfigError, InputError, NotFoundError,
                MissingFileError, SetupError):
        assert issubclass(cls, SimstudentError), cls
    # Older callers that caught the built-in types still catch the new ones.
    assert issubclass(DataError, ValueError) and issubclass(NotFoundError, KeyError)
    assert issubclass(MissingFileError, FileNotFoundError) and issubclass(BackendError, RuntimeError)


def test_not_found_prints_without_keyerror_quotes():
    assert str(NotFoundError("no problem 'x'")) == "no problem 'x'"


def test_registry_and_problem_lookups_raise_not_found():
    from simstudent.models import BACKENDS
    from simstudent.problems import find_problem

    with pytest.raises(NotFoundError, match="unknown"):
        BACKENDS.get("no-such-backend")
    with pytest.raises(NotFoundError, match="no problem"):
        find_problem("no_such_problem_anywhere")


def test_user_error_is_one_line_with_exit_2(tmp_path):
    res = runner.invoke(app, ["problems", "show", "no_such_problem_anywhere"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "no_such_problem_anywhere" in lines[0]


def test_simstudent_error_raised_deep_in_a_command_is_caught_centrally(tmp_path, monkeypatch):
    import simstudent.data.stats as stats

    def boom(dataset):
        raise InputError("the dataset is unusable for stats")

    monkeypatch.setattr(stats, "compute_stats", boom)
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("submission_id,func_code,assignment_id,func_name,description,test,correct,user\n"
                        "1,x=1,a1,f,d,assert True,True,u1\n")
    res = runner.invoke(app, ["data", "stats", str(csv_file), "--format", "dublin"])
    assert res.exit_code == 2, res.output
    assert "error: the dataset is unusable for stats" in res.output


def test_a_real_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import simstudent.data.stats as stats

    def bug(dataset):
        return {}["missing key"]  # a KeyError that is a bug, not a user error

    monkeypatch.setattr(stats, "compute_stats", bug)
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("submission_id,func_code,assignment_id,func_name,description,test,correct,user\n"
                        "1,x=1,a1,f,d,assert True,True,u1\n")
    res = runner.invoke(app, ["data", "stats", str(csv_file), "--format", "dublin"])
    assert res.exit_code != 2
    assert isinstance(res.exception, KeyError)


def test_cli_catches_no_bare_builtin_errors():
    """`except ValueError/KeyError/LookupError` in the CLI would turn bugs into 'user errors'."""
    pattern = re.compile(r"except\s*\(?[^:]*\b(ValueError|KeyError|LookupError|RuntimeError|Exception)\b[^:]*:")
    offenders = []
    for path in sorted(CLI_DIR.glob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{no}: {line.strip()}")
    assert offenders == []
