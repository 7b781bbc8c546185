"""Functional metrics (seed paper Sec. 4.3.2): error-type distribution and pass rate.

All four error classes are always reported (the paper's plotting code drops compile
errors; we do not). Pass rate is reported under both conventions of
``GradeResult.pass_rate_under``:

- ``errors_as_zero``: passed / total for every graded code (compile errors score 0);
- ``errors_excluded``: compile and runtime errors have no pass rate and drop out of
  means, as in the paper's code.

Codes without a ``GradeResult`` (e.g. real logs that were never re-graded) are
counted as ``ungraded``; where the source log recorded a verdict, the share
recorded correct is reported separately as ``recorded_correct`` - it is not a
pass rate and is never mixed into one.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from simstudent.metrics._stats import paired_mae, summary
from simstudent.schema import ERROR_TYPES, GradeResult

CONVENTIONS = ("errors_as_zero", "errors_excluded")


def error_distribution(grades: Sequence[Optional[GradeResult]]) -> dict[str, Any]:
    """Counts and shares of the four error types among the graded codes."""
    graded = [g for g in grades if g is not None]
    counts = {t: 0 for t in ERROR_TYPES}
    for g in graded:
        counts[g.error_type] += 1
    n = len(graded)
    return {
        "n_graded": n,
        "n_ungraded": len(grades) - n,
        "counts": counts,
        "shares": {t: (counts[t] / n if n else float("nan")) for t in ERROR_TYPES},
    }


def pass_rate_values(grades: Sequence[Optional[GradeResult]], convention: str) -> list[Optional[float]]:
    """One pass rate per code under ``convention`` (None where undefined or ungraded)."""
    return [g.pass_rate_under(convention) if g is not None else None for g in grades]  # type: ignore[arg-type]


def functional_side(grades: Sequence[Optional[GradeResult]],
                    recorded: Sequence[Optional[bool]] = ()) -> dict[str, Any]:
    """Error distribution, pass rate (both conventions) and, where logged, the
    recorded-correct share for one side (real or generated) of a comparison."""
    out: dict[str, Any] = {"error_types": error_distribution(grades)}
    out["pass_rate"] = {c: summary(pass_rate_values(grades, c)) for c in CONVENTIONS}
    rec = [float(r) for r in recorded if r is not None]
    if rec:
        out["recorded_correct"] = summary(rec)
    return out


def functional_metrics(
    real_grades: Sequence[Optional[GradeResult]],
    generated_grades: Sequence[Optional[GradeResult]],
    *,
    real_recorded: Sequence[Optional[bool]] = (),
    generated_recorded: Sequence[Optional[bool]] = (),
    pairs: Optional[Sequence[tuple[int, int]]] = None,
) -> dict[str, Any]:
    """Both sides' functional figures, plus the pass-rate MAE over (real, generated)
    index pairs under each convention, and the share of pairs whose error types agree."""
    out: dict[str, Any] = {
        "real": functional_side(real_grades, real_recorded),
        "generated": functional_side(generated_grades, generated_recorded),
    }
    if pairs:
        maes = {}
        for c in CONVENTIONS:
            rv, gv = pass_rate_values(real_grades, c), pass_rate_values(generated_grades, c)
            mae, n = paired_mae((rv[i], gv[j]) for i, j in pairs)
            maes[c] = {"mae": mae, "n_pairs": n}
        out["pass_rate_mae"] = maes
        both = [(real_grades[i], generated_grades[j]) for i, j in pairs
                if real_grades[i] is not None and generated_grades[j] is not None]
        out["error_type_agreement"] = {
            "share": (sum(a.error_type == b.error_type for a, b in both) / len(both)) if both else float("nan"),
            "n_pairs": len(both),
        }
    return out
