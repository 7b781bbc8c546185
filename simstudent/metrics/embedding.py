"""Embedding metrics of the seed paper (Sec. 4.3.1), with d = 1 - cosine similarity.

- KNN distance (k=3): mean over real codes g of the mean d from g to its k nearest
  generated codes. Lower is closer.
- Coverage (k=10): share of real codes that are among the k nearest *real*
  neighbours of at least one generated code. Higher covers more of the real
  distribution.
- Paired cosine distance: mean d between each real code and the code generated for
  the same slot.

The functions take embedding matrices (rows = codes); they normalise rows
themselves, so any embedder's output works. When fewer than k codes are available,
k shrinks to what there is (and the result says which k was used).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from simstudent.metrics._stats import sd


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D matrix of embeddings, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # An all-zero vector (e.g. tf-idf of an empty string) has no direction; leave it
    # zero, so its cosine similarity with anything is 0 and its distance 1.
    return x / np.where(norms == 0, 1.0, norms)


def cosine_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """d[i, j] = 1 - cos(a_i, b_j), clipped to [0, 2] against rounding noise."""
    return np.clip(1.0 - _unit_rows(a) @ _unit_rows(b).T, 0.0, 2.0)


def knn_distance(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, int]:
    """Mean over real rows of the mean distance to their k nearest generated rows.

    Returns (value, k actually used); NaN when either side is empty.
    """
    if len(real) == 0 or len(generated) == 0:
        return float("nan"), 0
    k_used = min(k, len(generated))
    d = cosine_distance_matrix(real, generated)
    nearest = np.partition(d, k_used - 1, axis=1)[:, :k_used]
    return float(nearest.mean(axis=1).mean()), k_used


def coverage(real: np.ndarray, generated: np.ndarray, k: int = 10) -> tuple[float, int]:
    """Share of real rows that are among the k nearest real rows of at least one
    generated row. Ties at the k-th distance are broken by row order (stable sort).

    Returns (value, k actually used); NaN when either side is empty.
    """
    if len(real) == 0 or len(generated) == 0:
        return float("nan"), 0
    k_used = min(k, len(real))
    d = cosine_distance_matrix(generated, real)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k_used]
    covered = np.zeros(len(real), dtype=bool)
    covered[nearest.ravel()] = True
    return float(covered.mean()), k_used


def paired_cosine_distances(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """d(real_i, generated_i) for each row pair i."""
    if len(real) != len(generated):
        raise ValueError(f"paired embeddings differ in length: {len(real)} real vs {len(generated)} generated")
    if len(real) == 0:
        return np.zeros(0)
    return np.clip(1.0 - np.sum(_unit_rows(real) * _unit_rows(generated), axis=1), 0.0, 2.0)


def embedding_metrics(
    real: np.ndarray,
    generated: np.ndarray,
    *,
    pairs: Optional[Sequence[tuple[int, int]]] = None,
    knn_k: int = 3,
    coverage_k: int = 10,
    embedder: str = "",
) -> dict[str, Any]:
    """All three embedding metrics for one group of codes.

    ``pairs`` are (real row, generated row) index pairs for the paired distance;
    without them it is left out. ``embedder`` is recorded in the result.
    """
    knn, k1 = knn_distance(real, generated, knn_k)
    cov, k2 = coverage(real, generated, coverage_k)
    out: dict[str, Any] = {
        "embedder": embedder,
        "n_real": int(len(real)),
        "n_generated": int(len(generated)),
        "knn_distance": knn,
        "knn_k": k1,
        "coverage": cov,
        "coverage_k": k2,
    }
    if pairs:
        ri = [p[0] for p in pairs]
        gi = [p[1] for p in pairs]
        d = paired_cosine_distances(np.asarray(real)[ri], np.asarray(generated)[gi])
        out.update(paired_cosine_distance=float(d.mean()), paired_cosine_sd=sd(d.tolist()), n_pairs=len(pairs))
    return out
