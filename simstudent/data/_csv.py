"""CSV reading shared by the CSV-based importers: clear errors with line numbers.

The stdlib ``csv`` module is used rather than pandas because it tells us on which
physical line each record starts (records may span lines: student code is quoted
and multi-line), and it is fast enough (ITAP's two tables parse in ~30 ms).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

from simstudent.data.errors import BadRows, DataError

# Student code can be long; the default field limit (128 KiB) is too small for some logs.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class CsvRow(NamedTuple):
    """One data record: where it starts and its fields by column name."""

    line: int  # physical line the record starts on (header = line 1)
    row: int  # data record number, 1-based
    values: dict[str, str]


def read_csv(
    path: Path,
    required: Sequence[str],
    bad: BadRows,
) -> tuple[list[str], Iterator[CsvRow]]:
    """Open ``path``, check its header has every ``required`` column, and return
    (header, iterator of records). Records with the wrong number of fields go to
    ``bad``; blank lines are ignored. Unreadable files, undecodable bytes, a missing
    column and quoting the csv module cannot parse raise :class:`DataError`.
    """
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", file=path) from None
    try:
        # strict: an unterminated or stray quote is an error, not silently swallowed text.
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("file is empty (no header line)", file=path, line=1) from None
        except UnicodeDecodeError:
            raise _utf8_error(path) from None
        except csv.Error as exc:
            raise DataError(f"cannot parse header: {exc}", file=path, line=1) from None
        header = [h.strip() for h in header]
        for column in required:
            if column not in header:
                raise DataError(
                    f"missing column {column!r} (header has: {', '.join(header)})",
                    file=path,
                    line=1,
                    field=column,
                )
    except BaseException:
        handle.close()
        raise
    return header, _records(path, handle, reader, header, bad)


def _records(path: Path, handle, reader, header: list[str], bad: BadRows) -> Iterator[CsvRow]:
    with handle:
        row_no = 0
        start = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise _utf8_error(path) from None
            except csv.Error as exc:
                # Broken quoting swallows the rest of the file: nothing sensible to skip to.
                raise DataError(f"malformed CSV: {exc}", file=path, line=start, row=row_no + 1) from None
            line, start = start, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            row_no += 1
            if len(fields) != len(header):
                if len(fields) < len(header):
                    field = header[len(fields)]
                    msg = f"row has {len(fields)} fields, header has {len(header)} (no value for {field!r})"
                else:
                    field = None
                    msg = f"row has {len(fields)} fields, header has {len(header)} (extra values)"
                bad.handle(
                    DataError(msg, file=path, line=line, row=row_no, field=field),
                    f"{path.name}: wrong number of fields",
                )
                continue
            yield CsvRow(line, row_no, dict(zip(header, fields)))


def _utf8_error(path: Path) -> DataError:
    """Locate the first undecodable byte (the text reader decodes in blocks, so the
    csv line counter does not know where it is)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return DataError(f"not valid UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})", file=path, line=line)
    return DataError("not valid UTF-8", file=path)


def normalise_newlines(code: str) -> str:
    """``\\r\\n`` and lone ``\\r`` -> ``\\n`` (ITAP stores Windows line endings)."""
    return code.replace("\r\n", "\n").replace("\r", "\n")


def parse_bool(text: str) -> bool | None:
    """TRUE/FALSE/True/false/1/0 -> bool, empty -> None; anything else raises ValueError."""
    value = text.strip().lower()
    if value in ("true", "t", "1", "yes"):
        return True
    if value in ("false", "f", "0", "no"):
        return False
    if value in ("", "na", "nan", "null", "none"):
        return None
    raise ValueError(f"not a boolean: {text!r}")
