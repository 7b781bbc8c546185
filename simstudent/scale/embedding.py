"""Embedding as Ray tasks: an evaluation's codes embedded across a cluster's CPUs.

:class:`RayEmbedder` is an embedder (the :class:`~simstudent.metrics.embedders.Embedder`
protocol: ``name``, ``cache_key``, ``cacheable``, ``embed``) whose ``embed`` cuts the
codes into chunks and runs each chunk as a Ray task that builds the named embedder
on its node (``get_embedder(name)``: the model must be installed there, as here).
It stands in for the local embedder wherever one is used, so the driver keeps
``embed_codes``' de-duplication and its embedding cache: only codes the cache lacks
go to the cluster, under the local embedder's cache key.

An embedder fitted on the codes of one call (``tfidf``: ``cacheable`` is False) must
see them all together, so it runs as one task.

Nothing here imports Ray until ``embed`` is called.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from simstudent.errors import SimstudentError
from simstudent.scale.cohort import RayConfig, ensure_ray, task_failure


class RayEmbeddingError(SimstudentError, RuntimeError):
    """An embedding task failed on the cluster (its node's reason in the message)."""


class RayEmbeddingConfig(BaseModel):
    """How embedding is cut into Ray tasks."""

    model_config = ConfigDict(extra="forbid")

    chunk_size: int = Field(1024, ge=1, description="Codes per Ray task (each task loads the model once).")
    cpus_per_task: int = Field(1, ge=1, description="CPUs Ray reserves per task (torch threads in the task).")
    gpus_per_task: float = Field(0.0, ge=0, description="GPUs Ray reserves per task (the model on a GPU).")
    max_retries: int = Field(3, ge=0, description="How often Ray reruns a task whose worker or node died.")


def embed_chunk(name: str, config: dict[str, Any], codes: Sequence[str], threads: int) -> np.ndarray:
    """``get_embedder(name, **config).embed(codes)`` with ``threads`` torch threads:
    the body of a Ray task (and runs the same outside Ray)."""
    from simstudent.metrics.embedders import get_embedder

    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # an embedder without torch (tfidf)
        pass
    return np.asarray(get_embedder(name, **config).embed(list(codes)), dtype=np.float32)


class RayEmbedder:
    """The embedder ``name`` (with ``config``), run as Ray tasks on ``ray_config``'s cluster."""

    def __init__(self, name: str, ray_config: Optional[RayConfig] = None,
                 embedding: Optional[RayEmbeddingConfig] = None, **config: Any) -> None:
        from simstudent.metrics.embedders import get_embedder

        local = get_embedder(name, **config)  # unknown names fail here; models load lazily, so nothing loads
        self.name, self.cache_key, self.cacheable = local.name, local.cache_key, local.cacheable
        self.registry_name, self.config = name, config
        self.ray_config = ray_config or RayConfig()
        self.embedding = embedding or RayEmbeddingConfig()

    def embed(self, codes: Sequence[str]) -> np.ndarray:
        """One row per code, in order."""
        codes = list(codes)
        if not codes:
            return np.asarray(embed_chunk(self.registry_name, self.config, [], 1))
        ray = ensure_ray(self.ray_config)
        e = self.embedding
        task = ray.remote(embed_chunk).options(num_cpus=e.cpus_per_task, num_gpus=e.gpus_per_task,
                                               max_retries=e.max_retries)
        size = e.chunk_size if self.cacheable else len(codes)
        starts = list(range(0, len(codes), size))
        refs = [task.remote(self.registry_name, self.config, codes[s:s + size], e.cpus_per_task) for s in starts]
        try:
            parts = ray.get(refs)
        except Exception as exc:  # RayTaskError (the task raised) or a worker lost for good
            # The other tasks are left to finish and their results dropped: ray.cancel on a
            # task whose reply is in flight can abort the driver (a check in Ray's task manager).
            raise RayEmbeddingError(f"embedding with {self.name!r} on Ray failed: {task_failure(exc)}") from None
        return np.concatenate(parts)
