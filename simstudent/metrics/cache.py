"""Embedding cache: SQLite keyed by (embedder cache key, sha256 of the code).

One file under ``simstudent.paths.cache_dir()`` by default. Several processes may
share it (SQLite locks; writes are small transactions).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np


def code_hash(code: str) -> str:
    """sha256 hex digest of the code's UTF-8 bytes."""
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Persistent map (embedder key, code) -> float32 vector."""

    def __init__(self, path: Optional[Path] = None) -> None:
        if path is None:
            from simstudent.paths import cache_dir

            path = cache_dir() / "embeddings.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=60)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS emb (embedder TEXT, sha TEXT, dim INTEGER, vec BLOB,"
            " PRIMARY KEY (embedder, sha))"
        )
        self._db.commit()

    def get_many(self, embedder: str, codes: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors of those codes that have one."""
        by_hash = {code_hash(c): c for c in codes}
        found: dict[str, np.ndarray] = {}
        hashes = list(by_hash)
        for i in range(0, len(hashes), 500):  # SQLite's bound-parameter limit
            chunk = hashes[i:i + 500]
            rows = self._db.execute(
                f"SELECT sha, vec FROM emb WHERE embedder = ? AND sha IN ({','.join('?' * len(chunk))})",
                [embedder, *chunk],
            ).fetchall()
            for sha, blob in rows:
                found[by_hash[sha]] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put_many(self, embedder: str, codes: Iterable[str], vectors: np.ndarray) -> None:
        """Store one vector per code (overwriting)."""
        rows = [(embedder, code_hash(c), int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                for c, v in zip(codes, vectors)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
