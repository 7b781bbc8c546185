"""Embedding metrics of the seed paper (Sec. 4.3.1), with d = 1 - cosine similarity.

- KNN distance (k=3): mean over real codes g of the mean d from g to its k nearest
  generated codes. Lower is closer.
- Coverage (k=10): share of real codes that are among the k nearest *real*
  neighbours of at least one generated code. Higher covers more of the real
  distribution.
- Paired cosine distance: mean d between each real code and the code generated for
  the same slot.

The functions take embedding matrices (rows = codes); they normalise rows
themselves, so any embedder's output works. They are computed within one cell (one
problem at one stage) by ``simstudent.metrics.engine``; a cell with too few codes is
n/a (NaN here), k is never shrunk.
"""

from __future__ import annotations

import numpy as np


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


def knn_distance(real: np.ndarray, generated: np.ndarray, k: int = 3) -> float:
    """Mean over real rows of the mean distance to their k nearest generated rows.

    NaN (n/a) when there are no real rows or fewer than k generated rows: k is
    never shrunk, so a value always means the same thing.
    """
    if len(real) == 0 or len(generated) < k or k < 1:
        return float("nan")
    d = cosine_distance_matrix(real, generated)
    nearest = np.partition(d, k - 1, axis=1)[:, :k]
    return float(nearest.mean(axis=1).mean())


def coverage(real: np.ndarray, generated: np.ndarray, k: int = 10) -> float:
    """Share of real rows that are among the k nearest real rows of at least one
    generated row. A real row tied with the k-th nearest counts as among them (so
    duplicate codes are treated alike, and real code against itself covers 1.0).

    NaN (n/a) when there are no generated rows or at most k real rows: with k or
    fewer real codes every generated code's k nearest are all of them, and the
    value would be 1.0 whatever was generated.
    """
    if len(generated) == 0 or len(real) <= k or k < 1:
        return float("nan")
    d = cosine_distance_matrix(generated, real)
    kth = np.partition(d, k - 1, axis=1)[:, k - 1:k]
    covered = (d <= kth + 1e-12).any(axis=0)
    return float(covered.mean())


def paired_cosine_distances(real: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """d(real_i, generated_i) for each row pair i."""
    if len(real) != len(generated):
        raise ValueError(f"paired embeddings differ in length: {len(real)} real vs {len(generated)} generated")
    if len(real) == 0:
        return np.zeros(0)
    return np.clip(1.0 - np.sum(_unit_rows(real) * _unit_rows(generated), axis=1), 0.0, 2.0)
