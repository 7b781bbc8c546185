"""Golden tests for the embedding metrics and the embedders (values worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simstudent.metrics.cache import EmbeddingCache
from simstudent.metrics.embedders import EmbeddingStore, embed_codes, get_embedder
from simstudent.metrics.embedding import (
    cosine_distance_matrix,
    coverage,
    knn_distance,
    paired_cosine_distances,
)

R2 = 1 / math.sqrt(2)


def test_cosine_distance_is_one_minus_cosine() -> None:
    d = cosine_distance_matrix(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [1.0, 1.0]]))
    assert d[0] == pytest.approx([0.0, 1.0, 2.0, 1 - R2])


def test_knn_distance_by_hand() -> None:
    real = np.array([[1.0, 0.0], [0.0, 1.0]])
    gen = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]])
    # real (1,0): distances 0, 1, 2, 1-1/sqrt2 -> 3 nearest 0, 1-1/sqrt2, 1; same for (0,1).
    assert knn_distance(real, gen, k=3) == pytest.approx((0 + (1 - R2) + 1) / 3)
    assert knn_distance(real, gen, k=1) == pytest.approx(0.0)


def test_knn_distance_is_na_with_fewer_generated_codes_than_k() -> None:
    # 2 generated codes, k = 3: n/a, never a k = 2 value.
    assert math.isnan(knn_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 0.0]]), k=3))
    assert math.isnan(knn_distance(np.zeros((0, 2)), np.ones((3, 2))))


def test_coverage_by_hand() -> None:
    real = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    a = np.array([[1.0, 0.1]])  # nearest real: (1,0), then (0,1)
    b = np.array([[-1.0, -0.1]])  # nearest real: (-1,0), then (0,-1)
    assert coverage(real, a, k=1) == pytest.approx(0.25)
    assert coverage(real, a, k=2) == pytest.approx(0.5)
    assert coverage(real, np.vstack([a, b]), k=2) == pytest.approx(1.0)


def test_coverage_is_na_when_a_cell_has_at_most_k_real_codes() -> None:
    real = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    # 4 real codes, k = 4 or 10: every generated code's k nearest would be all of them.
    assert math.isnan(coverage(real, np.array([[1.0, 0.1]]), k=4))
    assert math.isnan(coverage(real, np.array([[1.0, 0.1]]), k=10))


def test_coverage_counts_ties_at_the_kth_distance() -> None:
    # Real codes 0 and 1 are identical; the generated code equals them. With k = 1 both
    # are at distance 0, the k-th (1st) nearest distance: both count as covered -> 2/3.
    real = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert coverage(real, np.array([[1.0, 0.0]]), k=1) == pytest.approx(2 / 3)


def test_paired_cosine_distance_by_hand() -> None:
    real = np.array([[1.0, 0.0], [0.0, 1.0]])
    gen = np.array([[1.0, 1.0], [0.0, 2.0]])
    assert paired_cosine_distances(real, gen) == pytest.approx([1 - R2, 0.0])


def test_zero_vector_has_distance_one() -> None:
    assert cosine_distance_matrix(np.zeros((1, 2)), np.array([[1.0, 0.0]]))[0, 0] == pytest.approx(1.0)


def test_tfidf_embedder_is_deterministic_and_unit_norm() -> None:
    codes = ["def f(x):\n    return x + 1\n", "def f(y):\n    return y + 1\n", "print('hello')\n", "x = [1, 2, 3]\n"]
    a = get_embedder("tfidf", seed=3).embed(codes)
    b = get_embedder("tfidf", seed=3).embed(codes)
    assert np.allclose(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    d = cosine_distance_matrix(a, a)
    assert d[0, 1] < d[0, 2]  # renamed variable is closer than unrelated code


class _CountingEmbedder:
    """A test double standing in for a model: 2-D vectors from code length."""

    name = "counting"
    cache_key = "counting-v1"
    cacheable = True

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, codes):
        self.seen.extend(codes)
        return np.array([[len(c), 1.0] for c in codes], dtype=np.float32)


def test_embed_codes_dedups_and_uses_the_cache(tmp_path) -> None:
    emb = _CountingEmbedder()
    with EmbeddingCache(tmp_path / "e.sqlite") as cache:
        m1 = embed_codes(emb, ["ab", "ab\r\n", "abc", "ab"], cache=cache)
        assert emb.seen == ["ab", "ab\n", "abc"]  # \r\n normalised: "ab\r\n" == "ab\n" != "ab"
        assert m1.shape == (4, 2) and m1[0, 0] == 2 and m1[3, 0] == 2
        m2 = embed_codes(emb, ["abc", "abcd"], cache=cache)
        assert emb.seen[-1] == "abcd" and len(emb.seen) == 4  # "abc" came from the cache
        assert m2[0, 0] == 3
    with EmbeddingCache(tmp_path / "e.sqlite") as cache:  # persisted
        assert set(cache.get_many("counting-v1", ["ab", "abcd", "zz"])) == {"ab", "abcd"}


def test_store_refuses_codes_outside_a_fitted_space() -> None:
    store = EmbeddingStore(get_embedder("tfidf"))
    store.prepare(["a = 1", "b = 2", "print(3)"])
    assert store.matrix(["a = 1"]).shape[0] == 1
    with pytest.raises(RuntimeError, match="not in the fitted set"):
        store.matrix(["zzz"])


def test_unknown_embedder_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="minilm"):
        get_embedder("nope")


def test_sfr_code_fails_clearly_without_its_model() -> None:
    import importlib.util

    emb = get_embedder("sfr-code")
    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("sentence-transformers installed; the missing-package path cannot be shown")
    with pytest.raises(RuntimeError, match="sentence-transformers"):
        emb.embed(["x = 1"])


@pytest.mark.slow
def test_minilm_embeds_offline() -> None:
    import os

    emb = get_embedder("minilm")
    vecs = emb.embed(["def add(a, b):\n    return a + b\n", "def plus(x, y):\n    return x + y\n",
                      "for i in range(10):\n    print('*' * i)\n"])
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    d = cosine_distance_matrix(vecs, vecs)
    assert d[0, 1] < d[0, 2]
    # Batching by length must not change a code's vector.
    alone = emb.embed(["for i in range(10):\n    print('*' * i)\n"])
    assert np.allclose(alone[0], vecs[2], atol=1e-5)
