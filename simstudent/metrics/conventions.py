"""Named measuring conventions. The defaults follow the ParaStudent authors'
published procedure; the other values are kept, by name, where they are useful.

- ``pass_rate``: ``authors`` - passed / total, undefined (left out of means) only for
  code that does not compile or crashes before any test runs (top-level exception,
  top-level timeout, killed before the first test); a test that raises or times out
  simply fails. ``errors_as_zero`` - every graded code has passed / total (compile
  errors and crashes score 0). ``errors_excluded`` - undefined for every compile *and*
  runtime error (an earlier simstudent convention, stricter than the authors').
- ``pep8``: ``authors`` - pycodestyle on the code stripped, each line right-stripped
  and indented by four spaces (blank lines too) inside ``def dummy():``, lines fed
  without newline characters, W292 not counted. ``wrapped`` - the code as stored,
  indented with ``textwrap.indent`` (blank lines stay empty), lines with newlines.
- ``size``: ``stripped`` - characters and lines of ``code.strip()`` (the authors');
  ``raw`` - of the code as stored (newlines normalised).
- ``progress``: ``median-steps`` - per problem T = the rounded median real stream
  length; attempt t of an n-attempt stream sits at step 1 + round(t (T-1) / (n-1))
  (step 1 for one-attempt streams, which are kept); ``normalised-bins`` - B equal bins
  of t/(n-1), one-attempt streams left out.
- ``edit_distance``: Levenshtein distance between consecutive attempts of the same
  stream and sample (generated to generated, real to real), 0 for a stream's first
  attempt; an attempt whose predecessor is not in the run has none.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from simstudent.errors import ConfigError
from simstudent.schema import GradeResult

PassRateMode = Literal["authors", "errors_as_zero", "errors_excluded"]
Pep8Mode = Literal["authors", "wrapped"]
SizeMode = Literal["stripped", "raw"]
ProgressMode = Literal["median-steps", "normalised-bins"]
PASS_RATE_MODES: tuple[str, ...] = ("authors", "errors_as_zero", "errors_excluded")


class Conventions(BaseModel):
    """Which named convention each measure follows (defaults: the authors')."""

    model_config = ConfigDict(extra="forbid")

    pass_rate: PassRateMode = Field("authors", description="Pass-rate convention: authors (undefined only for "
                                    "compile errors and top-level crashes), errors_as_zero, errors_excluded.")
    pep8: Pep8Mode = Field("authors", description="PEP 8 count: authors (stripped, lines right-stripped and "
                           "indented, no newlines, W292 left out) or wrapped (code as stored).")
    size: SizeMode = Field("stripped", description="Characters/lines of the stripped code (authors) or raw code.")
    progress: ProgressMode = Field("median-steps", description="Progress x axis: median-steps (per problem T = "
                                   "rounded median stream length, steps 1..T) or normalised-bins.")


def top_level_crash(grade: GradeResult) -> bool:
    """True when no test ran because the code crashed first: a runtime error whose
    every test outcome carries the crash (a "not run: ..." reason or the error
    message itself), or a runtime error with no test outcomes recorded at all."""
    if grade.error_type != "runtime":
        return False
    if not grade.tests:
        return grade.passed == 0
    return grade.passed == 0 and all(
        o.exception is not None and (o.exception.startswith("not run") or o.exception == grade.error_message)
        for o in grade.tests)


def pass_rate(grade: Optional[GradeResult], mode: str = "authors") -> Optional[float]:
    """The pass rate of one graded code under a named convention (module docstring);
    None where it is undefined or the code is ungraded."""
    if grade is None:
        return None
    if mode == "authors":
        if grade.error_type == "compile" or top_level_crash(grade) or not grade.total:
            return None
        return grade.passed / grade.total
    if mode == "errors_as_zero":
        return grade.passed / grade.total if grade.total else 0.0
    if mode == "errors_excluded":
        return None if grade.error_type in ("compile", "runtime") else (
            grade.passed / grade.total if grade.total else 0.0)
    raise ConfigError(f"unknown pass-rate convention {mode!r}; use one of {', '.join(PASS_RATE_MODES)}")
