"""The CLI's Ray paths: ``simstudent cohort --ray`` and ``simstudent eval --ray``
(thin over :mod:`simstudent.scale`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError

from simstudent.cli._common import err_console, fail, one_line
from simstudent.errors import SimstudentError
from simstudent.models.errors import BackendError

_USER_ERRORS = (SimstudentError, ValidationError)


def cohort_on_ray(address: str, workers: int, backend: str, model: str, base_url: Optional[str],
                   batch_size: int, threads: Optional[int], probs: dict, pers: list, cfg: Any, out: Path,
                   sampler: Any, *, export: Optional[str], progress: bool, as_json: bool) -> None:
    """``cohort --ray``: the same cohort folder, written by the driver, generated and
    graded by Ray actors that each build their own backend."""
    import functools

    from simstudent.cli._agent_view import finish_cohort
    from simstudent.models import BackendConfig, build_backend
    from simstudent.scale import RayCohort, RayConfig

    make = functools.partial(build_backend, BackendConfig(backend=backend, model=model, base_url=base_url,
                                                          batch_size=batch_size, num_threads=threads))
    rc = RayConfig(address=None if address in ("", "local") else address, workers=workers)
    try:
        cohort = RayCohort(make, probs, pers, cfg, out, rc, gaps=sampler)
        trajs = cohort.run(progress=progress, console=err_console)
    except _USER_ERRORS as exc:
        fail(one_line(exc))
    except BackendError as exc:
        fail(f"backend failed: {exc}; every attempt so far is in {out}: rerun the same command to resume")
    notes = list(cohort.notes)
    if cohort.restarts:
        notes.append(f"Ray restarted actors {cohort.restarts} time(s); no attempt was lost")
    finish_cohort(trajs, notes, out, probs, export=export, as_json=as_json)
