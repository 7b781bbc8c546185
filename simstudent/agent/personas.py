"""Who a simulated student is, by name: a hand-written persona or a real student.

- ``student_123`` - a bundled persona (``simstudent/scenarios/personas/``), or, when
  a dataset is given, that dataset's student of this id if it has one;
- ``<dataset>:<student id>`` (e.g. ``itap:S002``) - the real student's whole history
  in the named dataset, which must be one of the datasets given (matched by its
  name or its folder's name). The persona's id is the full ``itap:S002``, so cohort
  folders and trajectories say where the student came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Union

from simstudent.errors import NotFoundError
from simstudent.schema import Dataset, Persona


class PersonaError(NotFoundError):
    """A persona name that resolves to no persona (the message says what would)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def dataset_names(dataset: Dataset, path: Union[str, Path, None] = None) -> set[str]:
    """The names a dataset answers to: its own name and its folder's or file's stem."""
    names = {dataset.name} if dataset.name else set()
    if path is not None:
        p = Path(path)
        names.add(p.name if p.is_dir() else p.stem)
    return names


def resolve_persona(spec: str, datasets: Optional[Mapping[str, Dataset]] = None) -> Persona:
    """The persona ``spec`` names (see the module docstring). ``datasets`` maps each
    name a loaded dataset answers to (:func:`dataset_names`) to that dataset."""
    from simstudent.problems import list_personas, load_persona

    datasets = dict(datasets or {})
    if ":" in spec:
        name, _, student = spec.partition(":")
        if not name or not student:
            raise PersonaError(f"persona {spec!r}: write <dataset>:<student id>, e.g. itap:S002")
        if name not in datasets:
            given = ", ".join(sorted(datasets)) or "none"
            raise PersonaError(f"persona {spec!r} is a student of dataset {name!r}, which was not given "
                               f"(datasets given: {given}); add --data PATH/TO/{name}")
        try:
            persona = Persona.from_dataset(datasets[name], student)
        except KeyError as exc:
            raise PersonaError(str(exc.args[0])) from None
        return persona.model_copy(update={"id": spec})
    for dataset in {id(d): d for d in datasets.values()}.values():
        if spec in set(dataset.students):
            return Persona.from_dataset(dataset, spec)
    try:
        return load_persona(spec)
    except KeyError:
        hint = (f"; a student of {', '.join(sorted(datasets))}? none has id {spec!r}" if datasets else
                "; a real student is <dataset>:<id> with --data")
        raise PersonaError(f"no persona {spec!r} (bundled: {', '.join(list_personas())}{hint})") from None
