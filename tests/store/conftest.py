"""Fixtures for the store's tests: real SQLite files under ``tmp_path``, on asyncio.

The store runs on asyncio in production (``anyio.run(..., backend="asyncio")``), so its async
tests run there only; its thread-based design is backend-neutral, which the kernel's own tests
cover for anyio in general.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from metawsm.store.db import connect
from metawsm.store.schema import migrate


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's database lives (not created yet)."""
    return tmp_path / ".metawsm" / "metawsm.db"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A writable connection to a database at the latest schema version."""
    connection = connect(db_path)
    migrate(connection)
    yield connection
    connection.close()
