"""GraderConfig: every knob of the grader in one pydantic model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from simstudent.schema import PassRateConvention

IsolationChoice = Literal["auto", "bubblewrap", "unshare", "none"]

_DEFAULT_CACHE = "default"


class GraderConfig(BaseModel):
    """How the grader runs code. Passed to :class:`simstudent.grader.Grader`.

    Limits apply to each submission's child process; timeouts are wall-clock seconds.
    ``cache_path``: ``"default"`` (``<cache_dir>/grades.sqlite``), a path, or None to
    disable the grade cache.
    """

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    isolation: IsolationChoice = "auto"
    per_test_timeout_s: float = Field(2.0, gt=0)
    wall_clock_s: float = Field(10.0, gt=0)  # whole submission: compile + top level + all tests
    kill_grace_s: float = Field(0.5, ge=0)  # after a missed alarm, before the worker kills
    cpu_s: int = Field(10, ge=1)
    address_space_mb: int = Field(1024, ge=64)
    file_size_mb: int = Field(16, ge=0)
    open_files: int = Field(64, ge=8)
    nproc: int = Field(64, ge=1)  # processes + threads per submission
    output_cap_bytes: int = Field(64 * 1024, ge=256)  # captured stdout per test
    tmp_size_mb: int = Field(64, ge=1)  # the sandbox's private /tmp
    sandbox_uid: int = Field(65534, ge=1)  # as root: worker i runs jobs as uid sandbox_uid - i
    allow_site_packages: bool = False  # stdlib only, like a course autograder
    cache_path: Optional[Union[str, Path]] = _DEFAULT_CACHE
    pass_rate_convention: PassRateConvention = "errors_as_zero"
    # Extra seconds the parent waits for a worker beyond wall_clock_s before it
    # declares the worker hung, kills its sandbox and starts a new one.
    worker_timeout_margin_s: float = Field(5.0, gt=0)

    def limits(self) -> dict:
        """The per-job limits sent to workers (and part of the cache key)."""
        return {
            "per_test_timeout": self.per_test_timeout_s,
            "wall_clock_s": self.wall_clock_s,
            "kill_grace_s": self.kill_grace_s,
            "cpu_s": self.cpu_s,
            "address_space_mb": self.address_space_mb,
            "file_size_mb": self.file_size_mb,
            "open_files": self.open_files,
            "nproc": self.nproc,
            "output_cap": self.output_cap_bytes,
        }

    def resolved_cache_path(self) -> Optional[Path]:
        """Where the SQLite grade cache lives, or None when caching is off."""
        if self.cache_path is None:
            return None
        if str(self.cache_path) == _DEFAULT_CACHE:
            from simstudent.paths import cache_dir

            return cache_dir() / "grades.sqlite"
        return Path(self.cache_path)
