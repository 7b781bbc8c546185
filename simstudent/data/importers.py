"""The importer registry and :func:`load_dataset`.

An importer is one small module exposing ``detect(path) -> bool`` and
``load(path, *, skip_bad_rows=False, **options) -> Dataset`` plus a module-level
``IMPORTER = Importer(...)``. Adding a format means writing that module and one
``IMPORTERS.register`` line (here, or in third-party code at run time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

from simstudent.data.errors import DataError
from simstudent.registry import Registry
from simstudent.schema import Dataset


@dataclass(frozen=True)
class Importer:
    """A named input format: how to recognise it and how to load it."""

    name: str
    detect: Callable[[Path], bool]
    load: Callable[..., Dataset]
    description: str = ""


IMPORTERS: Registry[Importer] = Registry("importer")
# Registration order is detection order: the cheapest, most specific checks first.
IMPORTERS.register("jsonl", "simstudent.data.jsonl:IMPORTER")
IMPORTERS.register("progsnap2", "simstudent.data.progsnap2:IMPORTER")
IMPORTERS.register("dublin", "simstudent.data.dublin:IMPORTER")
_DETECT_ORDER = ["jsonl", "progsnap2", "dublin"]


def detect_format(path: Union[str, Path]) -> str:
    """The name of the importer that recognises ``path``; DataError if none does."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or directory", file=path)
    names = _DETECT_ORDER + [n for n in IMPORTERS.names() if n not in _DETECT_ORDER]
    for name in names:
        if IMPORTERS.get(name).detect(path):
            return name
    raise DataError(
        f"cannot tell the data format (known formats: {', '.join(names)}); "
        "pass format=... / --format explicitly",
        file=path,
    )


def load_dataset(
    path: Union[str, Path],
    format: Optional[str] = None,
    *,
    skip_bad_rows: bool = False,
    **options: Any,
) -> Dataset:
    """Load a dataset from a ProgSnap2 folder, a Dublin-style CSV or native JSONL.

    ``format`` names an importer (see ``IMPORTERS.names()``); by default it is
    detected. With ``skip_bad_rows=True`` malformed rows are skipped and counted in
    ``dataset.provenance.skipped_rows`` / ``skip_reasons`` instead of raising
    :class:`DataError`. Extra ``options`` go to the importer's ``load``.
    """
    path = Path(path)
    if format is None:
        format = detect_format(path)
    elif format not in IMPORTERS:
        raise DataError(f"unknown format {format!r}; known: {', '.join(IMPORTERS.names())}", file=path)
    elif not path.exists():
        raise DataError("no such file or directory", file=path)
    return IMPORTERS.get(format).load(path, skip_bad_rows=skip_bad_rows, **options)
