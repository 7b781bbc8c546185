"""simstudent's native JSONL: datasets, and append-only record files.

Dataset file layout (one JSON object per line)::

    {"kind": "dataset", "version": 1, "name": ..., "provenance": {...}}
    {"kind": "problem", "problem": {...}}      # one line per problem
    {"kind": "stream", "stream": {...}}        # one line per stream

Long runs (cohorts, run folders, rollouts) keep their records in a
:class:`JsonlStore`: typed (one pydantic model per file), append-only, fsynced per
batch. A crash loses at most the batch being written; readers leave out such a torn
last line and the next append cuts it off, so a run can resume. :func:`append_jsonl`
and :func:`read_jsonl` are the one-record and warning-raising forms of the same.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Iterator, Optional, Sequence, Type, TypeVar, Union

from pydantic import BaseModel, ValidationError

from simstudent.data.errors import BadRows, DataError
from simstudent.data.importers import Importer
from simstudent.schema import Dataset, Problem, Provenance, Stream

FORMAT_VERSION = 1
M = TypeVar("M", bound=BaseModel)


class JsonlRecoveryWarning(UserWarning):
    """A JSONL file ended in a partial line (a crash mid-write); it was dropped."""


@dataclass
class JsonlReport:
    """What :func:`read_jsonl` saw besides the good records."""

    truncated_line: Optional[int] = None  # line number of a dropped partial last line
    skipped: list[str] = field(default_factory=list)  # "line N: reason" when skip_bad_rows


# ---------------------------------------------------------------- generic records


def _to_line(record: Union[BaseModel, dict[str, Any]]) -> str:
    if isinstance(record, BaseModel):
        text = record.model_dump_json()
    else:
        text = json.dumps(record, default=str, ensure_ascii=False)
    return text + "\n"


def append_jsonl(path: Union[str, Path], record: Union[BaseModel, dict[str, Any]]) -> None:
    """Append one record as one line, then flush and fsync (a one-record
    :meth:`JsonlStore.append`).

    If the file ends in a partial line left by a crash, that fragment is cut off
    first (with a :class:`JsonlRecoveryWarning`) so the new record starts a clean line.
    """
    store: JsonlStore = JsonlStore(path)
    note = store.repair()
    if note and note.startswith("cut"):
        warnings.warn(f"{store.path}: dropped a partial last line ({note})", JsonlRecoveryWarning, stacklevel=2)
    store.append([record])


def _fix_tail(handle, size: int) -> Optional[tuple[str, int]]:
    """Make an open binary file of ``size`` bytes end with a complete line.

    A torn last line (from a crash mid-write) is cut off; a complete JSON record
    that only lacks its newline gets one. Returns ("cut" | "completed", bytes of
    the last line), or None when the file already ends with a newline.
    """
    if size == 0:
        return None
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return None
    # Find the start of the last line; files written here are line-sized, so read back in chunks.
    pos, start = size, 0
    while pos > 0:
        step = min(65536, pos)
        handle.seek(pos - step)
        idx = handle.read(step).rfind(b"\n")
        if idx >= 0:
            start = pos - step + idx + 1
            break
        pos -= step
    handle.seek(start)
    tail = handle.read()
    try:
        json.loads(tail)
    except ValueError:
        handle.truncate(start)
        return "cut", len(tail)
    handle.seek(0, os.SEEK_END)
    handle.write(b"\n")
    return "completed", len(tail)


def repair_tail(path: Union[str, Path]) -> Optional[str]:
    """Make ``path`` end with a complete line before appending to it after a crash
    (see :func:`_fix_tail`). Returns what was done, or None if nothing was needed."""
    path = Path(path)
    if not path.exists():
        return None
    with open(path, "rb+") as handle:
        fixed = _fix_tail(handle, handle.seek(0, os.SEEK_END))
        if fixed is None:
            return None
        handle.flush()
        os.fsync(handle.fileno())
    action, nbytes = fixed
    if action == "cut":
        return f"cut a torn last line ({nbytes} bytes) from {path.name}"
    return f"completed the last line of {path.name}"


class JsonlStore(Generic[M]):
    """One append-only JSONL file of typed records: the storage every long run uses
    (cohorts, run folders, rollouts).

    ``record`` is the pydantic model of one line (``None`` = plain JSON objects, for
    files whose lines another module types). :meth:`append` writes a batch of lines,
    then flushes and fsyncs once, so a kill loses at most the batch being written.
    :meth:`read` returns every complete record; a torn *last* line (no newline, not
    parseable: a kill mid-write) is left out and reported in :attr:`torn_line`, and
    the next :meth:`append` (or :meth:`repair`) cuts it off. A bad line anywhere else
    is damage, not an interrupted write: :class:`DataError` names file, line and field.
    """

    def __init__(self, path: Union[str, Path], record: Optional[Type[M]] = None) -> None:
        self.path = Path(path)
        self.record = record
        self.torn_line: Optional[int] = None  # set by read()
        self._repaired = False

    def exists(self) -> bool:
        return self.path.exists()

    def repair(self) -> Optional[str]:
        """Make the file end with a complete line (see :func:`repair_tail`)."""
        self._repaired = True
        return repair_tail(self.path)

    def read(self) -> list[M]:
        """Every complete record, in file order (``[]`` when the file does not exist)."""
        self.torn_line = None
        if not self.path.exists():
            return []
        out = []
        for lineno, text, unterminated in iter_jsonl_lines(self.path):
            try:
                obj = _parse(self.path, lineno, text, self.record)
                if self.record is None and not isinstance(obj, dict):
                    raise DataError("expected a JSON object", file=self.path, line=lineno)
            except DataError:
                if unterminated:
                    self.torn_line = lineno
                    continue
                raise
            out.append(obj)
        return out

    def __iter__(self) -> Iterator[M]:
        return iter(self.read())

    def append(self, records: Sequence[Union[M, dict[str, Any]]]) -> None:
        """Append one line per record; repair a torn tail first (once per store)."""
        if not records:
            return
        if self.record is not None:
            bad = [r for r in records if not isinstance(r, self.record)]
            if bad:
                raise TypeError(f"{self.path.name} holds {self.record.__name__} records, "
                                f"not {type(bad[0]).__name__}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._repaired:
            self.repair()
        data = "".join(_to_line(r) for r in records).encode("utf-8")
        with open(self.path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def append_one(self, record: Union[M, dict[str, Any]]) -> None:
        self.append([record])


def write_json_atomic(path: Union[str, Path], obj: Any) -> None:
    """Write one JSON document via a temporary file and a rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(obj, BaseModel):
        text = obj.model_dump_json(indent=2)
    else:
        text = json.dumps(obj, indent=2, default=str)
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _warn_truncated(path: Path, lineno: int, exc: DataError) -> None:
    message = f"{path}: dropped partial last line {lineno} ({exc.reason})"
    warnings.warn(message, JsonlRecoveryWarning, stacklevel=3)


def iter_jsonl_lines(path: Union[str, Path]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, is_unterminated_last_line) for each non-blank line."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", file=path) from None
    with handle:
        # Binary lines decoded one by one, so an encoding error names its own line.
        for lineno, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if not raw.endswith(b"\n"):  # a crash can cut a multi-byte character too
                    yield lineno, raw.decode("utf-8", errors="replace"), True
                    continue
                raise DataError(f"not valid UTF-8 ({exc.reason})", file=path, line=lineno) from None
            if text.strip():
                yield lineno, text, not text.endswith("\n")


def _parse(path: Path, lineno: int, text: str, cls: Optional[Type[M]]) -> Any:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", file=path, line=lineno) from None
    if cls is None:
        return obj
    try:
        return cls.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or None
        raise DataError(f"{err['msg']} (as {cls.__name__})", file=path, line=lineno, field=loc) from None


def read_jsonl(
    path: Union[str, Path],
    cls: Optional[Type[M]] = None,
    *,
    skip_bad_rows: bool = False,
    report: Optional[JsonlReport] = None,
) -> list:
    """Read every line of ``path`` as ``cls`` (a pydantic model; ``None`` = plain dicts).

    A partial last line (no newline, not parseable: a crash mid-write) is dropped
    with a :class:`JsonlRecoveryWarning` and noted in ``report``. Any other bad line
    raises :class:`DataError` naming file, line and field, unless ``skip_bad_rows``.
    """
    path = Path(path)
    report = report if report is not None else JsonlReport()
    out = []
    for lineno, text, unterminated in iter_jsonl_lines(path):
        try:
            out.append(_parse(path, lineno, text, cls))
        except DataError as exc:
            if unterminated:
                report.truncated_line = lineno
                _warn_truncated(path, lineno, exc)
            elif skip_bad_rows:
                report.skipped.append(f"line {lineno}: {exc.reason}")
            else:
                raise
    if report.skipped:
        warnings.warn(f"{path}: skipped {len(report.skipped)} bad line(s)", UserWarning, stacklevel=2)
    return out


# ---------------------------------------------------------------- datasets


def write_dataset(dataset: Dataset, path: Union[str, Path]) -> Path:
    """Write ``dataset`` as native JSONL (atomically: temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        header = {
            "kind": "dataset",
            "version": FORMAT_VERSION,
            "name": dataset.name,
            "provenance": dataset.provenance.model_dump(mode="json"),
        }
        handle.write(json.dumps(header, ensure_ascii=False) + "\n")
        for problem in dataset.problems.values():
            record = {"kind": "problem", "problem": problem.model_dump(mode="json")}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        for stream in dataset.streams:
            record = {"kind": "stream", "stream": stream.model_dump(mode="json")}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def detect(path: Path) -> bool:
    """A file whose first line is a simstudent dataset header."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline(1 << 20)
        return json.loads(first).get("kind") == "dataset"
    except (OSError, ValueError, AttributeError):
        return False


def read_dataset(path: Union[str, Path], *, skip_bad_rows: bool = False) -> Dataset:
    """Read a dataset written by :func:`write_dataset`."""
    path = Path(path)
    bad = BadRows(skip_bad_rows)
    header: Optional[dict[str, Any]] = None
    problems: dict[str, Problem] = {}
    streams: list[Stream] = []
    truncated = None
    for lineno, text, unterminated in iter_jsonl_lines(path):
        try:
            obj = _parse(path, lineno, text, None)
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object", file=path, line=lineno)
            kind = obj.get("kind")
            if header is None:
                if kind != "dataset":
                    raise DataError(
                        "first line must be the dataset header (kind 'dataset')", file=path, line=lineno, field="kind"
                    )
                header = obj
                continue
            if kind == "problem":
                problem = _validate(path, lineno, Problem, obj, "problem")
                problems[problem.id] = problem
            elif kind == "stream":
                streams.append(_validate(path, lineno, Stream, obj, "stream"))
            else:
                reason = f"unknown kind {kind!r} (expected 'problem' or 'stream')"
                raise DataError(reason, file=path, line=lineno, field="kind")
        except DataError as exc:
            if header is None:
                raise
            if unterminated:
                truncated = lineno
                _warn_truncated(path, lineno, exc)
                continue
            bad.handle(exc, f"{path.name}: bad line")
    if header is None:
        raise DataError("empty file (no dataset header)", file=path, line=1)
    if header.get("version", FORMAT_VERSION) > FORMAT_VERSION:
        reason = f"format version {header['version']} is newer than this simstudent reads ({FORMAT_VERSION})"
        raise DataError(reason, file=path, line=1, field="version")
    try:
        provenance = Provenance.model_validate(header.get("provenance") or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DataError(err["msg"], file=path, line=1, field="provenance." + ".".join(map(str, err["loc"]))) from None
    bad.record(provenance)
    if truncated is not None:
        provenance.notes.append(f"dropped partial last line {truncated} of {path.name}")
    return Dataset(name=header.get("name", ""), streams=streams, problems=problems, provenance=provenance)


def _validate(path: Path, lineno: int, cls: Type[M], obj: dict[str, Any], key: str) -> M:
    if key not in obj:
        raise DataError(f"missing {key!r} object", file=path, line=lineno, field=key)
    try:
        return cls.model_validate(obj[key])
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join([key, *map(str, err["loc"])])
        raise DataError(err["msg"], file=path, line=lineno, field=loc) from None


def load(path: Union[str, Path], *, skip_bad_rows: bool = False) -> Dataset:
    """Importer entry point: same as :func:`read_dataset`."""
    return read_dataset(path, skip_bad_rows=skip_bad_rows)


IMPORTER = Importer(name="jsonl", detect=detect, load=load, description="simstudent native JSONL dataset")
