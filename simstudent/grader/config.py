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

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                         description="Worker processes (sandboxes) grading in parallel; default: CPU count.")
    isolation: IsolationChoice = Field(
        "auto", description="Sandbox: auto (strongest that starts; refuses to grade when none does), bubblewrap, "
                            "unshare, or none (no sandbox: only when asked for explicitly).")
    per_test_timeout_s: float = Field(2.0, gt=0, description="Wall-clock seconds per test (and for top-level code).")
    wall_clock_s: float = Field(10.0, gt=0, description="Wall-clock seconds for a whole submission: compile, "
                                                        "top-level code and every test.")
    kill_grace_s: float = Field(0.5, ge=0, description="After a missed alarm, seconds before the worker kills the job.")
    cpu_s: int = Field(10, ge=1, description="RLIMIT_CPU of a submission, in seconds.")
    address_space_mb: int = Field(1024, ge=64, description="RLIMIT_AS of a submission, in MiB.")
    file_size_mb: int = Field(16, ge=0, description="Largest file a submission may write, in MiB.")
    open_files: int = Field(64, ge=8, description="Open file descriptors per submission.")
    nproc: int = Field(64, ge=1, description="Processes plus threads per submission.")
    output_cap_bytes: int = Field(64 * 1024, ge=256, description="Captured stdout per test, in bytes; beyond it "
                                                                 "the output is cut and marked so.")
    tmp_size_mb: int = Field(64, ge=1, description="Size of each private tmpfs (/tmp, /dev/shm) of a sandbox, in MiB.")
    sandbox_uid: int = Field(65534, ge=1, description="As root: worker i runs submissions as uid sandbox_uid - i.")
    allow_site_packages: bool = Field(False, description="Let submissions import installed third-party packages "
                                                         "(bound read-only); default: the stdlib only.")
    cache_path: Optional[Union[str, Path]] = Field(
        _DEFAULT_CACHE, description="SQLite grade cache: 'default' (<cache_dir>/grades.sqlite), a path, or None "
                                    "to disable it.")
    pass_rate_convention: PassRateConvention = Field(
        "errors_as_zero", description="errors_as_zero (errors count as 0 passed) or errors_excluded (the paper's: "
                                      "undefined for compile and runtime errors).")
    stop_at_first_timeout: bool = Field(
        True, description="Stop a submission's tests at the first one that times out (the verdict is fixed); "
                          "False runs the rest too, which only costs time (kept for comparisons).")
    worker_timeout_margin_s: float = Field(
        5.0, gt=0, description="Seconds beyond wall_clock_s the grader waits for a worker before it declares it "
                               "hung, kills its sandbox and starts another.")

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
            "stop_at_timeout": self.stop_at_first_timeout,
        }

    def resolved_cache_path(self) -> Optional[Path]:
        """Where the SQLite grade cache lives, or None when caching is off."""
        if self.cache_path is None:
            return None
        if str(self.cache_path) == _DEFAULT_CACHE:
            from simstudent.paths import cache_dir

            return cache_dir() / "grades.sqlite"
        return Path(self.cache_path)
