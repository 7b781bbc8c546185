"""The CLI's Ray paths: ``simstudent cohort --ray`` and ``simstudent eval --ray``
(thin over :mod:`simstudent.scale`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from simstudent.cli._common import USER_ERRORS, err_console, fail, one_line
from simstudent.models.errors import BackendError


def cohort_on_ray(address: str, workers: int, backend_config: Any, probs: dict, pers: list, cfg: Any, out: Path,
                  sampler: Any, *, export: Optional[str], progress: bool, as_json: bool) -> None:
    """``cohort --ray``: the same cohort folder, written by the driver, generated and
    graded by Ray actors that each build their own backend from ``backend_config``
    (the :class:`~simstudent.models.BackendConfig` a one-process run builds: model,
    --dtype, --threads, --batch-size and all)."""
    from simstudent.cli._agent_view import finish_cohort
    from simstudent.scale import RayCohort, RayConfig

    rc = RayConfig(address=None if address in ("", "local") else address, workers=workers)
    try:
        cohort = RayCohort(actor_backend_factory(backend_config), probs, pers, cfg, out, rc, gaps=sampler)
        trajs = cohort.run(progress=progress, console=err_console)
    except USER_ERRORS as exc:
        fail(one_line(exc))
    except BackendError as exc:
        fail(f"backend failed: {exc}; every attempt so far is in {out}: rerun the same command to resume")
    notes = list(cohort.notes)
    if cohort.restarts:
        notes.append(f"Ray restarted actors {cohort.restarts} time(s); no attempt was lost")
    finish_cohort(trajs, notes, out, probs, export=export, as_json=as_json)


def actor_backend_factory(backend_config: Any) -> Any:
    """What each Ray actor calls to build its backend: ``build_backend(backend_config)``
    (picklable; the config it carries is ``.args[0]``)."""
    import functools

    from simstudent.models import build_backend

    return functools.partial(build_backend, backend_config)
