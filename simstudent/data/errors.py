"""The one error type the data stage raises for bad input, and the bad-row collector.

Every problem with an input file (unreadable, missing column, malformed row,
dangling reference) becomes a single :class:`DataError` that names the file, the
line/row and the field, so a user can open the file and fix it. Importers that
accept ``skip_bad_rows=True`` route row-level errors through :class:`BadRows`,
which counts them by reason instead of raising.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional, Union

from simstudent.schema import Provenance
from simstudent.errors import SimstudentError

# How many skipped rows are described one by one in ``provenance.notes``.
_MAX_NOTED = 10


class DataError(SimstudentError, ValueError):
    """Bad input data, located as precisely as the format allows.

    Attributes ``file``, ``line`` (physical line where the record starts, 1-based,
    the header being line 1), ``row`` (data record number, 1-based, header
    excluded), ``field`` and ``reason`` (the message without the location).
    """

    def __init__(
        self,
        reason: str,
        *,
        file: Union[str, Path, None] = None,
        line: Optional[int] = None,
        row: Optional[int] = None,
        field: Optional[str] = None,
    ) -> None:
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.line = line
        self.row = row
        self.field = field
        super().__init__(self.location() + reason)

    def location(self) -> str:
        """``'FILE, line L (row R), field 'F': '`` - whichever parts are known."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.line is not None:
            where = f"line {self.line}"
            if self.row is not None:
                where += f" (row {self.row})"
            parts.append(where)
        elif self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ", ".join(parts) + ": " if parts else ""


class BadRows:
    """Raise row errors, or (``skip=True``) count them by reason and carry on."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.reasons: Counter[str] = Counter()
        self.examples: list[str] = []

    def handle(self, error: DataError, reason_key: str) -> None:
        """Raise ``error`` unless skipping; when skipping, record it under ``reason_key``."""
        if not self.skip:
            raise error
        self.reasons[reason_key] += 1
        if len(self.examples) < _MAX_NOTED:
            self.examples.append(f"skipped: {error}")

    @property
    def count(self) -> int:
        return sum(self.reasons.values())

    def record(self, provenance: Provenance) -> None:
        """Write the counts (and the first few skipped rows) into ``provenance``."""
        provenance.skipped_rows += self.count
        for key, n in self.reasons.items():
            provenance.skip_reasons[key] = provenance.skip_reasons.get(key, 0) + n
        provenance.notes.extend(self.examples)
