"""Per-problem agreement of the ITAP specs with the recorded ``Correct`` labels.

Grades every labelled ITAP submission with simstudent's own grader against the specs
in ``simstudent/scenarios/itap`` and prints the Markdown table of ``docs/itap-problems.md``:
for each problem the number of submissions, how many are labelled correct, the
agreement of "passes every test" with the label, and each disagreement with a reason.

Two agreement columns are reported:

- **as recorded**: the code exactly as exported (importer option
  ``repair_trailing_backslash=False``);
- **export-repaired**: the same code with one stray ``\\`` at the very end removed, as
  the importer does by default (what
  ``simstudent grade --dataset ../shared/data/itap --problems itap`` sees).
  The public ITAP export ends 410 submissions with a lone backslash (61 of them are
  labelled correct), which Python cannot compile; the course's grader evidently saw the
  code without it.

Usage (from the repository root)::

    python scripts/itap_agreement.py [--data ../shared/data/itap] [--problems itap]
                                     [--json] [--no-cache]
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def repair_trailing_backslash(code: str) -> str:
    """The importer's repair of the export's stray final backslash (see
    ``simstudent.data.progsnap2.strip_export_backslash``)."""
    from simstudent.data.progsnap2 import strip_export_backslash

    return strip_export_backslash(code)[0]


class _Renamer(ast.NodeTransformer):
    """Rename every identifier that is not a builtin to v0, v1, ... in order of use."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _new(self, name: str) -> str:
        import builtins

        if hasattr(builtins, name):
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg)
        return node


def canonical(code: str) -> str | None:
    """The code's AST with layout, parentheses, comments and local names abstracted
    away (the function's own name is kept); None if it does not parse."""
    try:
        tree = ast.parse(repair_trailing_backslash(code))
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            node.name = "f_" + node.name
    return ast.dump(_Renamer().visit(tree), annotate_fields=False)


@dataclass
class Row:
    """One labelled submission and both verdicts."""

    problem: str
    student: str
    order: int
    code: str
    label: bool
    ours: dict[str, bool] = field(default_factory=dict)  # mode -> passes every test
    detail: dict[str, str] = field(default_factory=dict)  # mode -> first failure, one line


def _first_failure(result) -> str:
    if result.error_type == "compile":
        lines = (result.error_message or "?").strip().splitlines() or ["?"]
        return f"compile error: {lines[-1]}"[:160]
    for t in result.tests:
        if not t.passed:
            what = t.exception or f"expected {t.expected!r}, got {t.got!r}"
            return f"{(t.source or t.name).splitlines()[0]} -> {what}"[:160]
    return result.error_message or result.error_type


def collect(data: Path, problems_dir: Path) -> tuple[list[Row], dict]:
    """Every labelled submission of a problem that has a spec."""
    from simstudent.data import load_dataset
    from simstudent.problems import load_problems

    dataset = load_dataset(data, repair_trailing_backslash=False)  # "recorded" means as exported
    problems = load_problems(problems_dir)
    rows = [
        Row(s.problem_id, s.student_id, sub.order, sub.code, bool(sub.recorded_correct))
        for s in dataset.streams
        if s.problem_id in problems
        for sub in s.submissions
        if sub.recorded_correct is not None
    ]
    return rows, problems


def grade(rows: list[Row], problems: dict, use_cache: bool, batch: int = 200) -> None:
    """Fill ``row.ours`` for both modes, with a progress bar."""
    from rich.progress import Progress

    from simstudent.grader import Grader, GraderConfig

    config = GraderConfig() if use_cache else GraderConfig(cache_path=None)
    modes = {"recorded": lambda c: c, "repaired": repair_trailing_backslash}
    with Grader(config) as grader, Progress(transient=True) as progress:
        for mode, fix in modes.items():
            task = progress.add_task(f"grading ({mode})", total=len(rows))
            for start in range(0, len(rows), batch):
                chunk = rows[start:start + batch]
                results = grader.grade_many([(problems[r.problem], fix(r.code)) for r in chunk])
                for row, res in zip(chunk, results):
                    row.ours[mode] = res.error_type == "no_error" and res.passed == res.total
                    if row.ours[mode] != row.label:
                        row.detail[mode] = _first_failure(res)
                progress.advance(task, len(chunk))


def reason(row: Row, mode: str, by_code: dict[str, Counter]) -> str:
    """Why our verdict and the label differ, as far as the data can tell."""
    if mode == "recorded" and row.label and repair_trailing_backslash(row.code) != row.code:
        return "labelled correct, ends with the export's stray `\\` (cannot compile)"
    key = canonical(row.code)
    other = by_code.get(key, Counter())[not row.label] if key else 0
    if other:
        was = "correct" if not row.label else "incorrect"
        return f"label noise: the same code (up to names/layout) is labelled {was} in {other} other submission(s)"
    if row.label:
        return f"labelled correct but fails: {row.detail.get(mode, '?')}"
    return "labelled incorrect but passes every test"


def summarise(rows: list[Row], problems: dict) -> dict:
    """Per-problem and overall numbers plus the disagreements (JSON-ready)."""
    by_code: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        key = canonical(r.code)
        if key:
            by_code[key][r.label] += 1
    per: dict[str, dict] = {}
    for pid in sorted(problems):
        mine = [r for r in rows if r.problem == pid]
        entry = {"n": len(mine), "correct": sum(r.label for r in mine)}
        for mode in ("recorded", "repaired"):
            dis = [r for r in mine if r.ours[mode] != r.label]
            entry[mode] = {
                "agreement": (1 - len(dis) / len(mine)) if mine else None,
                "disagreements": [
                    {"student": r.student, "order": r.order, "label": r.label, "reason": reason(r, mode, by_code)}
                    for r in dis
                ],
            }
        per[pid] = entry
    n = len(rows)
    overall = {
        mode: sum(r.ours[mode] == r.label for r in rows) / n if n else None for mode in ("recorded", "repaired")
    }
    return {"n": n, "agreement": overall, "problems": per}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def markdown(summary: dict) -> str:
    """The table and the list of disagreements, as Markdown."""
    out = [
        "| problem | n | labelled correct | agreement (as recorded) | agreement (export-repaired) "
        "| disagreements (export-repaired) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for pid, e in summary["problems"].items():
        counts = Counter(d["reason"].split(":")[0] for d in e["repaired"]["disagreements"])
        why = "; ".join(f"{k} x{v}" for k, v in counts.items()) or "none"
        out.append(
            f"| {pid} | {e['n']} | {e['correct']} | {_pct(e['recorded']['agreement'])} "
            f"| {_pct(e['repaired']['agreement'])} | {why} |"
        )
    a = summary["agreement"]
    out += [
        "",
        f"**Overall** ({summary['n']} labelled submissions): {_pct(a['recorded'])} as recorded, "
        f"{_pct(a['repaired'])} export-repaired.",
        "",
        "Disagreements (export-repaired):",
        "",
    ]
    for pid, e in summary["problems"].items():
        for d in e["repaired"]["disagreements"]:
            label = "correct" if d["label"] else "incorrect"
            out.append(f"- {pid}, {d['student']} #{d['order']} (labelled {label}): {d['reason']}")
    extra = Counter()
    for pid, e in summary["problems"].items():
        for d in e["recorded"]["disagreements"]:
            if "stray" in d["reason"]:
                extra[pid] += 1
    out += [
        "",
        "Extra disagreements as recorded (labelled correct, stray trailing `\\`): "
        + ", ".join(f"{p} {c}" for p, c in sorted(extra.items()))
        + f" ({sum(extra.values())} in all).",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "itap")
    parser.add_argument("--problems", type=Path, default=REPO_ROOT / "simstudent" / "scenarios" / "itap")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--no-cache", action="store_true", help="do not use the grade cache")
    args = parser.parse_args(argv)
    if not (args.data / "MainTable.csv").is_file():
        print(f"error: {args.data}: no MainTable.csv (pass --data PATH to the ITAP folder)", file=sys.stderr)
        return 2
    rows, problems = collect(args.data, args.problems)
    grade(rows, problems, use_cache=not args.no_cache)
    summary = summarise(rows, problems)
    print(json.dumps(summary, indent=1) if args.json else markdown(summary))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing
    sys.exit(main())
