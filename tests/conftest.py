"""Shared fixtures: where the real data lives, and skips when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The real student data sits beside the project (../shared/data), never inside it.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (expected ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def itap_dir() -> Path:
    """The ITAP ProgSnap2 folder (MainTable.csv, CodeState.csv, CV/)."""
    return _require(SHARED_DATA / "itap")


@pytest.fixture(scope="session")
def dublin_csv() -> Path:
    """The Dublin 2015-2016 CSV with tests."""
    return _require(SHARED_DATA / "dublin" / "dublin_2015_2016.csv")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
