"""Generation backends behind one batched interface, resolved lazily by name.

``get_backend("hf", model="default")`` imports torch/transformers only at that call;
``import simstudent.models`` imports neither torch nor vllm nor openai.
"""

from __future__ import annotations

from typing import Any

from simstudent.models.base import Backend, Completion, GenerationRequest, SamplingParams
from simstudent.models.errors import (
    AuthError,
    BackendError,
    ModelNotFoundError,
    QuotaError,
)
from simstudent.models.build import BackendConfig, BackendConfigError, build_backend
from simstudent.registry import Registry

BACKENDS: Registry[Any] = Registry("backend")
BACKENDS.register("hf", "simstudent.models.hf:HFBackend")
BACKENDS.register("vllm", "simstudent.models.vllm_backend:VLLMBackend")
BACKENDS.register("openai", "simstudent.models.openai_compat:OpenAIBackend")
BACKENDS.register("copy-previous", "simstudent.models.copy_previous:CopyPreviousBackend")


def get_backend(name: str, **config: Any) -> Backend:
    """Build the backend registered as ``name`` with ``config`` (its constructor's
    keyword arguments, e.g. ``model=``, ``adapters=``, ``base_url=``)."""
    return BACKENDS.get(name)(**config)


__all__ = [
    "AuthError",
    "BACKENDS",
    "Backend",
    "BackendConfig",
    "BackendConfigError",
    "BackendError",
    "Completion",
    "GenerationRequest",
    "ModelNotFoundError",
    "QuotaError",
    "SamplingParams",
    "build_backend",
    "get_backend",
]
