"""Fixtures for the forum's tests: real SQLite files under ``tmp_path``, on asyncio (the
store's runtime backend)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from metawsm.store.db import connect
from metawsm.store.schema import migrate
from tests.supervisor.world import World, world_fixture


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A migrated database; commands run on it in explicit transactions."""
    db = connect(tmp_path / "metawsm.db")
    migrate(db)
    yield db
    db.close()


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[..., World]]:
    yield from world_fixture(tmp_path)
