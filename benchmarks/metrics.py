"""Time the non-embedding metrics suite on 10,000 ITAP-derived submissions.

ITAP has 2,801 submissions, so whole streams are sampled with replacement (seeded)
until there are N submissions (the last stream is cut); each copy gets its own
student id. The students are split in two halves, one "real" and one "generated",
and one ``compare`` (matched pairing, no embedder) runs the metrics engine: grades
(ITAP is ungraded here, so functional figures are empty), style incl. pycodestyle,
per-problem cells, progress and the style-score PCA; then memorisation checks the
generated half against the real half as training data.

Two runs, each with a cold style cache:

- ``as sampled``: resampled streams repeat codes, and identical codes are computed
  once (that is what the metrics do for real data too; the distinct count is printed);
- ``all distinct``: each submission gets a unique trailing comment, so pycodestyle,
  the AST and the copy check see 10,000 distinct codes - the worst case.

    python3 benchmarks/metrics.py [--itap PATH] [--n 10000] [--processes K]

Last line: ``seconds (all distinct): X``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from simstudent.data import load_dataset
from simstudent.metrics.compare import MetricsConfig, compare
from simstudent.metrics.memorisation import memorisation
from simstudent.schema import Dataset, Stream

DEFAULT_ITAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "itap"


def resample(dataset: Dataset, n: int, seed: int, distinct: bool) -> Dataset:
    """Streams drawn with replacement until there are exactly n submissions."""
    rng = random.Random(seed)
    streams: list[Stream] = []
    total = 0
    while total < n:
        src = rng.choice(dataset.streams)
        copy = src.model_copy(deep=True)
        copy.student_id = f"{src.student_id}#{len(streams)}"
        copy.submissions = copy.submissions[: n - total]
        if distinct:
            for sub in copy.submissions:
                sub.code = f"{sub.code}\n# {total}"
                total += 1
        else:
            total += len(copy.submissions)
        streams.append(copy)
    return Dataset(name=f"{dataset.name}-x{n}", streams=streams, problems=dataset.problems)


def split_students(data: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    """Two datasets with disjoint random halves of the students."""
    students = sorted({s.student_id for s in data.streams})
    random.Random(seed).shuffle(students)
    first = set(students[: len(students) // 2])
    return (Dataset(name="half-a", streams=[s for s in data.streams if s.student_id in first]),
            Dataset(name="half-b", streams=[s for s in data.streams if s.student_id not in first]))


def run(data: Dataset, processes: int) -> dict[str, float]:
    """Seconds for one cold run of the suite."""
    real, gen = split_students(data, seed=0)
    cfg = MetricsConfig(embedder=None, processes=processes, pairing="matched")
    c0 = _cpu()
    t0 = time.perf_counter()
    result = compare(real, gen, cfg)
    t1 = time.perf_counter()
    mem = memorisation([s.code for st in gen.streams for s in st.submissions],
                       [s.code for st in real.streams for s in st.submissions])
    t2 = time.perf_counter()
    return {"compare": t1 - t0, "memorisation": t2 - t1, "total": t2 - t0, "cpu": _cpu() - c0,
            "groups": len(result.groups), "copy_share": mem["copy_share"]}


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the style pool)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--itap", type=Path, default=DEFAULT_ITAP)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    itap = load_dataset(args.itap)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs slow wall time)")
    print(f"ITAP: {itap.n_submissions:,} submissions in {len(itap.streams):,} streams; "
          f"resampling whole streams with replacement to {args.n:,}; {args.processes} processes")
    for label, distinct in (("as sampled", False), ("all distinct", True)):
        data = resample(itap, args.n, args.seed, distinct)
        codes = [s.code for st in data.streams for s in st.submissions]
        t = run(data, args.processes)
        print(f"{label:>12}: {len(codes):,} submissions, {len(set(codes)):,} distinct codes, "
              f"{t['groups']:.0f} groups -> compare {t['compare']:.1f} s + memorisation {t['memorisation']:.1f} s "
              f"= {t['total']:.1f} s wall, {t['cpu']:.1f} s CPU")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"seconds (all distinct): {t['total']:.1f}")


if __name__ == "__main__":
    main()
