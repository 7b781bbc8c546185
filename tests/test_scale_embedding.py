"""Embedding as Ray tasks (``simstudent.scale.RayEmbedder``), and a whole evaluation
graded and embedded on Ray, against the same run done locally.

Real parts throughout: the offline MiniLM model, the TF-IDF embedder, the sandboxed
grader, real ITAP data (skipped when ../shared/data is absent). Generation is the
model-free copy-previous exp2 baseline, so no GPU and no generation model is needed.
All tests share one small local Ray cluster (2 CPUs).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')

from simstudent.metrics.embedders import get_embedder  # noqa: E402
from simstudent.scale import RayConfig, RayEmbedder, RayEmbeddingConfig, RayEmbeddingError  # noqa: E402

CODES = [
    "def count_stairs(n):\n    return n\n",
    "def count_stairs(n):\n    if n <= 2:\n        return n\n    return count_stairs(n - 1) + count_stairs(n - 2)\n",
    "def is_power_of_two(n):\n    return n > 0 and n & (n - 1) == 0\n",
    "print('Hello World!')",
    "def helloWorld():\n    print('Hello World')\n",
    "import math\ndef convertToDegrees(x):\n    return x * 180 / math.pi\n",
    "def howManyEggCartons(eggs):\n\treturn eggs//12",
    "def howManyEggCartons(eggs):\n\treturn eggs/12",
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "def isSubstring(s, t):\n    return s in t\n",
    "",
    "def f(x)\n    return x\n",
    "x = 1\n" * 40,
]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_minilm_on_ray_gives_the_local_vectors(cluster):
    local = get_embedder("minilm").embed(CODES)
    # Chunks of 5: three tasks, each loading the model on its worker.
    got = RayEmbedder("minilm", RayConfig(), RayEmbeddingConfig(chunk_size=5)).embed(CODES)
    assert got.shape == local.shape == (len(CODES), 384)
    # A chunk pads its codes with other neighbours than the whole list does, which moves the
    # float32 sums in the last digits only.
    np.testing.assert_allclose(got, local, atol=1e-5)
    # The codes are told apart (so the comparison above is not between near-equal rows).
    sims = local @ local.T
    assert sims[np.triu_indices(len(CODES), 1)].max() < 0.999


def test_tfidf_on_ray_is_fitted_on_all_codes_at_once(cluster):
    local = get_embedder("tfidf").embed(CODES)
    on_ray = RayEmbedder("tfidf", RayConfig(), RayEmbeddingConfig(chunk_size=2))
    assert not on_ray.cacheable and on_ray.cache_key == get_embedder("tfidf").cache_key
    np.testing.assert_array_equal(on_ray.embed(CODES), local)  # one task: the very same fit


def test_unknown_embedder_fails_before_ray_and_a_failing_task_is_one_line(cluster):
    from simstudent.errors import SimstudentError

    with pytest.raises(SimstudentError):
        RayEmbedder("no-such-embedder")
    with pytest.raises(RayEmbeddingError) as info:  # the task's embedder cannot find its model folder
        RayEmbedder("minilm", RayConfig(), model_dir="/no/such/model").embed(["x = 1"])
    assert "\n" not in str(info.value) and "minilm" in str(info.value)


def test_evaluation_graded_and_embedded_on_ray_equals_the_local_run(cluster, itap_dir, tmp_path):
    from simstudent.experiments.inputs import DataConfig
    from simstudent.experiments.runner import ExperimentConfig, GenerationConfig, run_experiment
    from simstudent.grader import Grader, GraderConfig
    from simstudent.scale import RayGrader, RayGradingConfig

    cfg = ExperimentConfig(exp="exp2", data=DataConfig(data=str(itap_dir), test_fraction=0.05),
                           gen=GenerationConfig(backend="copy-previous"), limit=6, embedder="tfidf",
                           floor_repeats=2)
    grading = GraderConfig(workers=1, cache_path=None, per_test_timeout_s=1.0, wall_clock_s=5.0)
    with Grader(grading) as local:
        run_experiment(cfg, tmp_path / "local", grader=local, show_progress=False)
    run_experiment(cfg, tmp_path / "ray", show_progress=False,
                   grader=RayGrader(RayConfig(), grading, RayGradingConfig(chunk_size=16)),
                   embedder=RayEmbedder("tfidf", RayConfig()))

    def metrics(name: str) -> dict:
        return json.loads((tmp_path / name / "metrics.json").read_text())

    expected, got = metrics("local"), metrics("ray")
    assert expected["counts"]["floor_codes"] > 0 and len(expected["items"]) > 6
    assert got == expected
    with np.load(tmp_path / "local" / "embeddings.npz") as a, np.load(tmp_path / "ray" / "embeddings.npz") as b:
        np.testing.assert_array_equal(a["ids"], b["ids"])
        np.testing.assert_array_equal(a["vectors"], b["vectors"])


def test_an_embedder_for_another_name_is_refused(tmp_path):
    from simstudent.errors import ConfigError
    from simstudent.experiments.measure import embed_items

    with pytest.raises(ConfigError):
        embed_items([], {}, "minilm", embedder=RayEmbedder("tfidf"))
