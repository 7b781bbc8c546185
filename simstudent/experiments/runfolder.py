"""The run folder: everything one evaluation run writes, append-only and resumable.

Layout (one folder per run)::

    config.json        what was run (the experiment config + the command line)
    generations.jsonl  one line per example x sample: {"id", "key", "sample", ...}
    grades.jsonl       one line per graded code: {"id", "role", "grade": GradeResult}
    metrics.json       the summary the report reads (written last, atomically)
    embeddings.npz     float16 embeddings of every item in metrics.json (for Fig. 2)

JSONL files are only ever appended to. A run killed mid-write can leave a torn last
line; readers ignore it and :meth:`RunFolder.open_append` cuts it off before the
next append, so a rerun of the same command picks up exactly where the last one
stopped. A torn line anywhere else is corruption and raises an error naming the
file and line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional
from simstudent.errors import SimstudentError

CONFIG = "config.json"
GENERATIONS = "generations.jsonl"
GRADES = "grades.jsonl"
METRICS = "metrics.json"
EMBEDDINGS = "embeddings.npz"
TRAJECTORIES = "trajectories.jsonl"


class RunFolderError(SimstudentError, ValueError):
    """A run folder that cannot be used as asked (bad file, config mismatch)."""


def read_jsonl_records(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of ``path``; a torn *last* line is ignored.

    Raises :class:`RunFolderError` naming the file and line for a bad line that is
    followed by others (that is not an interrupted write but a damaged file).
    """
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    # The piece after the last newline is either b"" (clean) or a torn write.
    complete, tail = lines[:-1], lines[-1]
    for lineno, raw in enumerate(complete, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise RunFolderError(f"{path}: line {lineno}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise RunFolderError(f"{path}: line {lineno}: expected a JSON object")
        records.append(obj)
    if tail.strip():
        # A final line with no newline: the writer was killed mid-line, unless it
        # happens to be complete JSON (a writer that died just before the newline).
        try:
            obj = json.loads(tail)
        except ValueError:
            return records
        if isinstance(obj, dict):
            records.append(obj)
    return records


def _cut_torn_tail(path: Path) -> None:
    """Truncate ``path`` after its last newline (drop an interrupted write) and make
    sure a complete-but-unterminated last line gets its newline."""
    if not path.exists():
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if not data or data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        try:
            complete = isinstance(json.loads(tail), dict)
        except ValueError:
            complete = False
        if complete:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
        else:
            fh.truncate(cut)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to ``path`` via a temporary file and rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class JsonlAppender:
    """Appends dict records to one JSONL file, one flushed line each."""

    def __init__(self, path: Path) -> None:
        _cut_torn_tail(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        # One write call per line, flushed, so a kill loses at most this line.
        self._fh.write(json.dumps(record, default=str) + "\n")
        self._fh.flush()

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            self.write(r)

    def close(self) -> None:
        self._fh.close()

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
    def records(self, name: str) -> list[dict[str, Any]]:
        """Complete records of one JSONL file of this run (torn last line ignored)."""
        return read_jsonl_records(self.path / name)

    def done_ids(self, name: str, field: str = "id") -> set[str]:
        """The ids already written to ``name`` (what a resumed run skips)."""
        return {str(r[field]) for r in self.records(name) if field in r}

    def appender(self, name: str) -> JsonlAppender:
        return JsonlAppender(self.path / name)

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
