"""Content-addressed grade cache in SQLite.

The key is the sha256 of everything a verdict depends on: the tests (with their
expected outputs), the problem's fixed code, the submitted code, the grader version,
the limits and the isolation level (every result states its isolation truthfully).
Re-grading a dataset a second time is then a sequence of primary-key lookups.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Iterable, Optional

from simstudent.schema import GradeResult, Problem

_SCHEMA = "CREATE TABLE IF NOT EXISTS grades (key TEXT PRIMARY KEY, result TEXT NOT NULL)"


def cache_key(problem: Problem, code: str, *, limits: dict, isolation: str, version: str) -> str:
    """sha256 over tests + fixed code + code + grader version/limits/isolation."""
    payload = json.dumps(
        {
            "tests": [t.model_dump() for t in problem.tests],
            "fixed_code": problem.fixed_code,
            "code": code,
            "version": version,
            "limits": limits,
            "isolation": isolation,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class GradeCache:
    """Thread-safe get/put of GradeResults by key; a broken file disables itself."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: Optional[sqlite3.Connection] = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            conn.commit()
            self._conn = conn
        except (sqlite3.Error, OSError) as exc:
            warnings.warn(f"grade cache {self.path} is unusable ({exc}); grading without a cache", stacklevel=2)

    def get_many(self, keys: Iterable[str]) -> dict[str, GradeResult]:
        """The cached results among ``keys`` (marked ``cached=True``)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, GradeResult] = {}
        if self._conn is None or not keys:
            return found
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                try:
                    rows = self._conn.execute(f"SELECT key, result FROM grades WHERE key IN ({marks})", chunk).fetchall()
                except sqlite3.Error as exc:
                    warnings.warn(f"grade cache {self.path}: read failed ({exc})", stacklevel=2)
                    return found
                for key, text in rows:
                    try:
                        res = GradeResult.model_validate_json(text)
                    except ValueError:
                        continue  # written by an incompatible version: re-grade
                    res.cached = True
                    found[key] = res
        return found

    def get(self, key: str) -> Optional[GradeResult]:
        return self.get_many([key]).get(key)

    def put_many(self, items: Iterable[tuple[str, GradeResult]]) -> None:
        rows = [(k, r.model_copy(update={"cached": False}).model_dump_json()) for k, r in items]
        if self._conn is None or not rows:
            return
        with self._lock:
            try:
                self._conn.executemany("INSERT OR REPLACE INTO grades (key, result) VALUES (?, ?)", rows)
                self._conn.commit()
            except sqlite3.Error as exc:
                warnings.warn(f"grade cache {self.path}: write failed ({exc})", stacklevel=2)

    def put(self, key: str, result: GradeResult) -> None:
        self.put_many([(key, result)])

    def __len__(self) -> int:
        if self._conn is None:
            return 0
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM grades").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
