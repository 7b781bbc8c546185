"""Cohort throughput on 1 and 2 local Ray workers, side by side in one run.

The cohort is grading-bound on purpose: a fast scripted backend (a hash of each
request picks one of a few function bodies; no model) stands in for generation, so
the rate measures how attempts are split, graded in the real sandbox and written.
Each worker is one Ray actor with a one-sandbox grader pool. Prints attempts/s for
each width, the per-attempt cost of one worker, and ``ratio:`` (2 workers / 1) last.

    PYTHONPATH=$PWD python3 benchmarks/scale.py [--students 8] [--attempts 5]

Needs Ray (pip install -e ".[ray]"). On a machine with fewer than 2 free cores the
ratio stays near 1: the two workers then share one core.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import tempfile
import time
from pathlib import Path

from simstudent.agent.cohort import CohortConfig
from simstudent.agent.student import StudentConfig
from simstudent.models.base import Completion
from simstudent.problems import find_problem, load_persona
from simstudent.scale import RayCohort, RayConfig

PROBLEMS = ["hw04_q2", "hw03_q1"]
PERSONAS = ["student_123", "pat_prints"]


class ScriptedBackend:
    """Instant, deterministic completions (never submits), so grading dominates."""

    name = "scripted"
    BODIES = ("return 0", "return n", "return 1", "print(n)", "return n +", "return n * 2")

    def generate(self, requests):
        out = []
        for req in requests:
            text = req.prompt if req.prompt is not None else str(req.messages)
            digest = hashlib.sha256(f"{req.sampling.seed}|{text}".encode()).digest()
            match = re.search(r"TODO CODE:\s*<code>\s*def (\w+)\(([^)]*)\)", text)
            name, args = (match.group(1), match.group(2)) if match else ("f", "n")
            body = self.BODIES[digest[0] % len(self.BODIES)]
            # The tag makes every code distinct, so no grade is shared or cached.
            code = f"def {name}({args}):\n    # {digest[:6].hex()}\n    {body}\n"
            out.append(Completion(text=f"<code>{code}</code>", completion_tokens=12))
        return out


def one_sandbox_grader():
    from simstudent.grader import Grader, GraderConfig

    # No grade cache: every attempt is really graded (a cache would hide the cost).
    return Grader(GraderConfig(workers=1, cache_path=None))


def run(workers: int, config: CohortConfig, problems: dict, personas: list, out: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    trajs = RayCohort(ScriptedBackend, problems, personas, config, out,
                      RayConfig(workers=workers, cpus_per_worker=1), make_grader=one_sandbox_grader).run(progress=False)
    return sum(len(t.attempts) for t in trajs), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=16, help="simulated students per persona")
    parser.add_argument("--attempts", type=int, default=5, help="max attempts per (student, problem)")
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    problems = {p: find_problem(p) for p in PROBLEMS}
    personas = [load_persona(p) for p in PERSONAS]
    config = CohortConfig(problems=PROBLEMS, personas=PERSONAS, n_per_persona=args.students,
                          student=StudentConfig(max_attempts=args.attempts, seed=3, save_prompts=False,
                                                stop_on_pass=False))
    slots = len(PROBLEMS) * len(PERSONAS) * args.students
    print(f"cohort: {slots} (student, problem) slots x up to {args.attempts} attempts, scripted backend, "
          f"one sandbox per worker")
    rates = {}
    tmp = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    try:
        run(1, config.model_copy(update={"n_per_persona": 1}), problems, personas, tmp / "warm")  # imports, pools
        for workers in (1, 2):
            n, wall = run(workers, config, problems, personas, tmp / f"w{workers}")
            rates[workers] = n / wall
            print(f"{workers} worker(s): {n} attempts in {wall:.1f} s = {rates[workers]:.1f} attempts/s "
                  f"({1000 * wall / n:.1f} ms per attempt)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        ray.shutdown()
    print(f"ratio: {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
