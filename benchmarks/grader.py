"""Pool vs process-per-submission grading on the same 1,000 Dublin submissions.

Both graders run the same worker code at the same isolation level with the same
concurrency (one thread per worker slot) and the cache off. The pool starts each
worker once and forks per submission; the baseline starts a fresh sandboxed
``python3`` (the real interpreter, not a shim) for every submission and lets it
serve exactly that one.

Submissions whose code loops forever cost the per-test timeout in either grader and
say nothing about overhead, so a selection pass (the pool, short timeout) keeps the
first N rows in file order that finish; the excluded rows are counted.

A second comparison, the looping-heavy mix: the same submissions with each
problem's assert split into one test per ``and``-ed condition (2-8 tests per problem)
and 5 % of them (every 20th) made to loop forever. The pool grades it twice, once
stopping at the first timed-out test (the default: the verdict is already fixed) and
once running every remaining test to its timeout (the former behaviour,
``stop_at_first_timeout=False``); ``looping-mix ratio`` is the second time over the first.

    python3 benchmarks/grader.py [--csv PATH] [--n 1000] [--workers K] [--isolation auto] [--loop-share 0.05]

Last lines: ``looping-mix ratio: Y`` and ``ratio: X`` (baseline wall time / pool wall time).
"""

from __future__ import annotations

import argparse
import ast
import csv
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from simstudent.grader import Grader, GraderConfig
from simstudent.grader.pool import WorkerFailure, WorkerProcess
from simstudent.grader.sandbox import resolve_isolation
from simstudent.grader.verdicts import build_result
from simstudent.schema import GradeResult, Problem, TestCase

DEFAULT_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dublin" / "dublin_2015_2016.csv"


def read_dublin(path: Path) -> list[tuple[Problem, str, bool]]:
    """(problem, code, recorded correct) per CSV row, in file order."""
    rows = []
    problems: dict[str, Problem] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            pid = row["assignment_id"]
            if pid not in problems:
                problems[pid] = Problem(id=pid, function_name=row["func_name"],
                                        tests=[TestCase(kind="assert", source=row["test"].strip(), name=f"{pid}_test")])
            rows.append((problems[pid], row["func_code"].replace("\r\n", "\n"), row["correct"].strip() == "True"))
    return rows


class FreshProcessGrader:
    """The baseline: one new sandboxed interpreter per submission, same worker code."""

    def __init__(self, config: GraderConfig, level: str) -> None:
        self.config, self.level = config, level
        self._slots = iter(range(1 << 30))
        self._lock = threading.Lock()

    def grade(self, problem: Problem, code: str) -> GradeResult:
        with self._lock:
            index = next(self._slots) % self.config.workers  # distinct uid per concurrent slot, as in the pool
        t0 = time.perf_counter()
        worker = WorkerProcess(index, self.level, self.config, oneshot=True)
        job = {"code": code, "fixed_code": problem.fixed_code,
               "tests": [{"kind": t.kind, "source": t.source} for t in problem.tests],
               "per_test_timeout": self.config.per_test_timeout_s, "output_cap": self.config.output_cap_bytes}
        try:
            resp = worker.request({"job": job, "limits": self.config.limits()},
                                  self.config.wall_clock_s + self.config.worker_timeout_margin_s)
        except (WorkerFailure, TimeoutError) as exc:
            resp = {"worker_error": str(exc)}
        finally:
            worker.close()
        return build_result(problem, resp, isolation=self.level, duration=time.perf_counter() - t0,  # type: ignore[arg-type]
                            timeout_s=self.config.per_test_timeout_s, wall_s=self.config.wall_clock_s)


def split_asserts(problem: Problem) -> Problem:
    """One assert test per ``and``-ed condition of the problem's single assert (as a
    course with several tests per problem would have); unsplittable tests stay whole."""
    source = problem.tests[0].source
    try:
        stmt = ast.parse(source).body[0]
    except (SyntaxError, IndexError):
        return problem
    if not (isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.BoolOp) and isinstance(stmt.test.op, ast.And)):
        return problem
    parts = [ast.get_source_segment(source, v) for v in stmt.test.values]
    tests = [TestCase(kind="assert", source=f"assert {p}", name=f"{problem.id}_test{i + 1}") for i, p in enumerate(parts)]
    return problem.model_copy(update={"tests": tests})


def looping_mix(pairs: list[tuple[Problem, str]], share: float) -> list[tuple[Problem, str]]:
    """``pairs`` with split tests; every (1/share)-th submission redefined to loop forever."""
    every = max(1, round(1 / share)) if share > 0 else 0
    split: dict[str, Problem] = {}
    out = []
    for i, (problem, code) in enumerate(pairs):
        problem = split.setdefault(problem.id, split_asserts(problem))
        if every and i % every == every - 1:
            code += f"\n\ndef {problem.function_name}(*args, **kwargs):\n    while True:\n        pass\n"
        out.append((problem, code))
    return out


def timed(grade, pairs, workers: int) -> tuple[float, list[GradeResult]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(lambda pc: grade(*pc), pairs))
    return time.perf_counter() - t0, results


def describe(name: str, wall: float, results: list[GradeResult]) -> str:
    d = sorted(r.duration_s for r in results)
    p95 = d[min(len(d) - 1, int(0.95 * len(d)))]
    return (f"{name:>9}: {len(results)} submissions in {wall:.2f} s = {len(results) / wall:.1f}/s; "
            f"per submission median {statistics.median(d) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--isolation", default="auto", choices=["auto", "bubblewrap", "unshare", "none"])
    ap.add_argument("--loop-share", type=float, default=0.05, help="Share of looping submissions in the mix.")
    args = ap.parse_args(argv)
    if not args.csv.exists():
        print(f"error: Dublin CSV not found at {args.csv} (pass --csv)", file=sys.stderr)
        return 2
    cfg = GraderConfig(cache_path=None, isolation=args.isolation, per_test_timeout_s=0.5, wall_clock_s=5.0,
                       **({"workers": args.workers} if args.workers else {}))
    level, _ = resolve_isolation(cfg.isolation, cfg)
    rows = read_dublin(args.csv)
    candidates = rows[: int(args.n * 1.1) + 20]
    with Grader(cfg) as pool:
        # Selection pass (also warms the pool's workers up).
        first = pool.grade_many([(p, c) for p, c, _ in candidates])
        chosen = [(p, c) for (p, c, _), r in zip(candidates, first) if not r.timed_out][: args.n]
        excluded = sum(r.timed_out for r in first[: len(first)])
        print(f"isolation: {level}; workers: {cfg.workers}; {len(chosen)} submissions "
              f"({excluded} of the first {len(candidates)} rows time out and were left out)")
        pool_wall, pool_res = timed(pool.grade, chosen, cfg.workers)
        mix = looping_mix(chosen, args.loop_share)
        stop_wall, stop_res = timed(pool.grade, mix, cfg.workers)
    with Grader(cfg.model_copy(update={"stop_at_first_timeout": False})) as old:
        old.grade_many(mix[: 2 * cfg.workers])  # start the workers before the clock
        all_wall, all_res = timed(old.grade, mix, cfg.workers)
    base = FreshProcessGrader(cfg, level)
    base_wall, base_res = timed(base.grade, chosen, cfg.workers)
    same = sum(a.error_type == b.error_type and a.passed == b.passed for a, b in zip(pool_res, base_res))
    print(describe("pool", pool_wall, pool_res))
    print(describe("baseline", base_wall, base_res))
    print(f"verdicts identical on {same}/{len(chosen)} submissions")
    n_tests = sum(len(p.tests) for p, _ in mix) / len(mix)
    loops = sum(r.timed_out for r in all_res)
    same_mix = sum(a.error_type == b.error_type and a.timed_out == b.timed_out for a, b in zip(stop_res, all_res))
    print(f"looping mix: {len(mix)} submissions, {n_tests:.1f} tests each on average, {loops} time out "
          f"({args.loop_share:.0%} made to loop); error types identical on {same_mix}/{len(mix)}")
    print(describe("stop", stop_wall, stop_res) + "  (stop at the first timeout)")
    print(describe("run-all", all_wall, all_res) + "  (run every test, the former behaviour)")
    print(f"looping-mix ratio: {all_wall / stop_wall:.1f}")
    print(f"ratio: {base_wall / pool_wall:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
