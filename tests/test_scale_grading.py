"""Grading as Ray tasks (``simstudent.scale.RayGrader``) gives the local grader's verdicts.

Everything is real: the sandboxed grader (inside each Ray task and in this process),
the demo course's problems, and (when ../shared/data is present) real ITAP student
codes graded through the evaluations' own grading step. No GPU is involved. All tests
share one small local Ray cluster (2 CPUs).
"""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')

from simstudent.grader import Grader, GraderConfig  # noqa: E402
from simstudent.scale import RayConfig, RayGrader, RayGradingConfig, RayGradingError  # noqa: E402

# A short per-test limit so the infinite loops cost a second each, locally and on Ray alike.
CONFIG = GraderConfig(workers=1, cache_path=None, per_test_timeout_s=1.0, wall_clock_s=5.0)

# The demo course's two problems: count_stairs (hw04_q2) and is_power_of_two (hw03_q1).
STAIRS = {
    "pass": "def count_stairs(n):\n    if n <= 2:\n        return n\n    return count_stairs(n - 1) + count_stairs(n - 2)\n",
    "pass_loop": "def count_stairs(n):\n    a, b = 1, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "fails_some": "def count_stairs(n):\n    return n\n",
    "fails_all": "def count_stairs(n):\n    return 0\n",
    "syntax": "def count_stairs(n)\n    return n\n",
    "runtime": "def count_stairs(n):\n    return undefined_name + n\n",
    "infinite": "def count_stairs(n):\n    while True:\n        n += 1\n",
    "top_level_crash": "1 / 0\ndef count_stairs(n):\n    return n\n",
    "empty": "",
    "prints": "def count_stairs(n):\n    print(n)\n",
}
POWER = {
    "pass": "def is_power_of_two(n):\n    return n > 0 and n & (n - 1) == 0\n",
    "fails_some": "def is_power_of_two(n):\n    return n % 2 == 0\n",
    "syntax": "def is_power_of_two(n):\n    return n &&& 1\n",
    "infinite": "def is_power_of_two(n):\n    while n != 1:\n        n = n // 2 * 2\n    return True\n",
    "recursion": "def is_power_of_two(n):\n    return is_power_of_two(n)\n",
}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def verdicts(results) -> list[dict]:
    """Everything a verdict says except the measured wall time (which no two runs share)."""
    out = []
    for r in results:
        d = r.model_dump(mode="json")
        d.pop("duration_s")
        out.append(d)
    return out


def demo_pairs(world) -> list[tuple]:
    problems, _ = world
    stairs, power = problems["hw04_q2"], problems["hw03_q1"]
    # Interleaved, so a chunk holds both problems and the problems travel once for all tasks.
    pairs = [(stairs, c) for c in STAIRS.values()] + [(power, c) for c in POWER.values()]
    return pairs[::2] + pairs[1::2]


def test_ray_grading_gives_the_local_graders_verdicts(cluster, world):
    pairs = demo_pairs(world)
    with Grader(CONFIG) as local:
        expected = local.grade_many(pairs)
    # Chunks of 4: several tasks, more than run at once on 2 CPUs, so some queue.
    on_ray = RayGrader(RayConfig(), CONFIG, RayGradingConfig(chunk_size=4, max_in_flight=2))
    got = on_ray.grade_many(pairs)
    assert verdicts(got) == verdicts(expected)
    # The set is mixed as intended: each kind of verdict is there, so the equality means something.
    kinds = {r.error_type for r in expected}
    assert kinds == {"no_error", "logical", "runtime", "compile"}
    assert sum(r.timed_out for r in expected) == 2
    assert {r.isolation for r in got} == {on_ray.task_config.isolation} and on_ray.task_config.isolation != "none"


def test_chunks_arrive_with_their_start_and_cover_every_code(cluster, world):
    pairs = demo_pairs(world)[:7]
    seen = sorted((start, len(results)) for start, results in
                  RayGrader(RayConfig(), CONFIG, RayGradingConfig(chunk_size=3)).grade_chunks(pairs))
    assert seen == [(0, 3), (3, 3), (6, 1)]


def test_auto_isolation_is_pinned_to_the_drivers_sandbox():
    on_ray = RayGrader(grader_config=GraderConfig(cache_path=None), grading=RayGradingConfig(cpus_per_task=2))
    with Grader(GraderConfig(cache_path=None, workers=1)) as local:
        assert on_ray.task_config.isolation == local.isolation != "auto"
    assert on_ray.task_config.workers == 2
    # An explicit level is sent as it is: each node's grader refuses to start without it.
    explicit = RayGrader(grader_config=GraderConfig(isolation="unshare", cache_path=None))
    assert explicit.task_config.isolation == "unshare"


def test_a_failing_task_is_one_line_naming_the_codes(cluster, world):
    problems, _ = world
    bad = problems["hw04_q2"].model_copy(update={"tests": None})  # the task's grader cannot read its tests
    pairs = [(problems["hw04_q2"], STAIRS["pass"])] * 3 + [(bad, STAIRS["pass"])]
    with pytest.raises(RayGradingError) as info:
        RayGrader(RayConfig(), CONFIG, RayGradingConfig(chunk_size=2)).grade_many(pairs)
    message = str(info.value)
    assert "\n" not in message and "codes 3-4 of 4" in message and "TypeError" in message


def test_evaluation_grading_on_ray_writes_the_local_grades(cluster, itap_dir, tmp_path):
    """The evaluations' grading step (real and floor targets of real ITAP students)
    writes the same grades.jsonl records through Ray tasks as through a local grader."""
    from simstudent.experiments.inputs import DataConfig, build_examples, load_inputs
    from simstudent.experiments.measure import read_grades
    from simstudent.experiments.runfolder import RunFolder
    from simstudent.experiments.runner import grade_all

    inputs = load_inputs(DataConfig(data=str(itap_dir), max_streams=5))
    examples = build_examples(inputs, "exp1", context=False, k=3)
    floor = build_examples(inputs, "exp1", context=False, k=3, full=True)[:12]
    assert 10 <= len(examples) + len(floor) <= 40

    def graded(name: str, grader) -> dict:
        folder = RunFolder(tmp_path / name)
        folder.init({"exp": "exp1"})
        n = grade_all(folder, examples, inputs.problems, grader, floor_examples=floor)
        assert n == len(examples) + len(floor)
        return {rid: {k: v for k, v in g.model_dump(mode="json").items() if k != "duration_s"}
                for rid, g in read_grades(folder).items()}

    with Grader(CONFIG) as local:
        expected = graded("local", local)
    got = graded("ray", RayGrader(RayConfig(), CONFIG, RayGradingConfig(chunk_size=8)))
    assert got == expected
    assert len({g["error_type"] for g in expected.values()}) >= 2  # not all one verdict
