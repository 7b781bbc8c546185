"""The run folder: everything one evaluation run writes, append-only and resumable.

Layout (one folder per run)::

    config.json        what was run (the experiment config + the command line)
    generations.jsonl  one GenerationRecord per example x sample
    grades.jsonl       one GradeRecord per graded code (generated, real target, floor target)
    metrics.json       the summary the report reads (written last, atomically)
    embeddings.npz     float16 embeddings of every item in metrics.json (for Fig. 2)

JSONL files are only ever appended to, through the shared store
(:class:`simstudent.data.jsonl.JsonlStore`). A run killed mid-write can leave a torn
last line; readers ignore it and :meth:`RunFolder.appender` cuts it off before the
next append, so a rerun of the same command picks up exactly where the last one
stopped. A torn line anywhere else is corruption and raises an error naming the
file and line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from simstudent.data.errors import DataError
from simstudent.data.jsonl import JsonlStore, write_json_atomic
from simstudent.errors import SimstudentError
from simstudent.schema import GradeResult

CONFIG = "config.json"
GENERATIONS = "generations.jsonl"
GRADES = "grades.jsonl"
METRICS = "metrics.json"
EMBEDDINGS = "embeddings.npz"
TRAJECTORIES = "trajectories.jsonl"


class RunFolderError(SimstudentError, ValueError):
    """A run folder that cannot be used as asked (bad file, config mismatch)."""


class GenerationRecord(BaseModel):
    """One line of generations.jsonl: one sample generated for one example."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The sample's id: <example key>#<sample>.")
    key: str = Field(description="The example's key.")
    sample: int = Field(ge=0, description="Which sample of the example (from 0).")
    template: str = Field(description="The prompt template it was generated with ('copy-previous' for that baseline).")
    completion: str = Field(description="The backend's text as generated.")
    code: str = Field(description="The code parsed from the completion ('' when there is none).")
    submitted: bool = Field(description="The completion ends with <SUBMIT>.")
    finish_reason: str = Field(description="stop, length (cut by the token limit) or error.")
    prompt_tokens: int = Field(0, description="Tokens in the prompt, as the backend counted them.")
    completion_tokens: int = Field(0, description="Tokens generated.")
    error: Optional[str] = Field(None, description="Why the backend failed (finish reason error).")
    settings: dict[str, Any] = Field(default_factory=dict, description="What the backend reports it sampled with.")


class GradeRecord(BaseModel):
    """One line of grades.jsonl: the grade of one code."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The graded item: a sample id, <key>:real or <key>:floor.")
    role: Literal["gen", "real", "floor"] = Field(
        description="A generated sample, an example's real target, or a floor target (the whole test split's).")
    key: str = Field(description="The example (or rollout continuation) the code belongs to.")
    grade: GradeResult


def _store(path: Path, record: Optional[type] = None) -> JsonlStore:
    return JsonlStore(path, record)


def read_jsonl_records(path: Path, record: Optional[type] = None) -> list[Any]:
    """Every complete record of ``path`` (``record``: a pydantic model, else plain
    dicts); a torn *last* line is left out.

    Raises :class:`RunFolderError` naming the file and line for a bad line that is
    followed by others (that is not an interrupted write but a damaged file).
    """
    try:
        return _store(path, record).read()
    except DataError as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        field = f"{exc.field}: " if exc.field else ""
        raise RunFolderError(f"{path}: {where}{field}{exc.reason}") from None


class JsonlAppender:
    """Appends records to one JSONL file of a run folder (a thin handle on the
    shared :class:`~simstudent.data.jsonl.JsonlStore`: torn tail cut on open, each
    line flushed and fsynced)."""

    def __init__(self, path: Path, record: Optional[type] = None) -> None:
        self.path = path
        self._store = _store(path, record)
        self._store.repair()

    def write(self, record: Any) -> None:
        self._store.append([record])

    def write_many(self, records: Iterable[Any]) -> None:
        self._store.append(list(records))

    def close(self) -> None:
        pass  # every write is already on disk

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Config fields that may change between a run and its resumption without making the
# results inconsistent: how fast or verbosely it runs, and how the finished
# generations are measured (metrics.json is rewritten from scratch on every run).
VOLATILE_CONFIG_FIELDS = frozenset({
    "command", "batch_size", "num_threads", "workers", "progress", "started_at", "out",
    "bins", "embedder", "floor_repeats", "label",
})


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class RunFolder:
    """One run's folder. ``RunFolder(path).init(config)`` creates it or checks that
    an existing one was made by the same experiment config (resume)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    # -- config -----------------------------------------------------------------
    def init(self, config: dict[str, Any], *, overwrite: bool = False) -> bool:
        """Create the folder with ``config``; return True when resuming.

        An existing folder whose config differs in any non-volatile field is
        refused (its generations would not belong to this run) unless ``overwrite``.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        cfg_path = self.path / CONFIG
        if cfg_path.exists() and not overwrite:
            old, new = _flatten(self.config()), _flatten(config)
            diff = sorted(
                k
                for k in set(old) | set(new)
                if k.rsplit(".", 1)[-1] not in VOLATILE_CONFIG_FIELDS and old.get(k) != new.get(k)
            )
            if diff:
                details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:6])
                raise RunFolderError(
                    f"{cfg_path}: this run folder was made with a different config ({details}); "
                    "use another --out folder (or --overwrite)"
                )
            write_json_atomic(cfg_path, config)  # the volatile fields as last used
            return True
        if overwrite:
            for name in (GENERATIONS, GRADES, METRICS, EMBEDDINGS, TRAJECTORIES):
                (self.path / name).unlink(missing_ok=True)
        write_json_atomic(cfg_path, config)
        return False

    def config(self) -> dict[str, Any]:
        path = self.path / CONFIG
        if not path.exists():
            raise RunFolderError(f"{self.path}: not a run folder (no {CONFIG})")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RunFolderError(f"{path}: not valid JSON ({exc})") from None

    # -- records ----------------------------------------------------------------
    def records(self, name: str, record: Optional[type] = None) -> list[Any]:
        """Complete records of one JSONL file of this run (torn last line ignored),
        as ``record`` (a pydantic model) or plain dicts."""
        return read_jsonl_records(self.path / name, record)

    def done_ids(self, name: str, record: type[GenerationRecord] | type[GradeRecord]) -> set[str]:
        """The ids already written to ``name`` (what a resumed run skips)."""
        return {r.id for r in self.records(name, record)}

    def appender(self, name: str, record: Optional[type] = None) -> JsonlAppender:
        """A handle that appends ``record`` lines (or dicts) to one JSONL file."""
        return JsonlAppender(self.path / name, record)

    def iter_records(self, name: str) -> Iterator[dict[str, Any]]:
        yield from self.records(name)

    # -- results ----------------------------------------------------------------
    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        path = self.path / METRICS
        write_json_atomic(path, metrics)
        return path

    def metrics(self) -> Optional[dict[str, Any]]:
        path = self.path / METRICS
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RunFolderError(f"{path}: not valid JSON ({exc})") from None
