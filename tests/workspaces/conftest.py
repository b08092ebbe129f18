"""Fixtures for workspace tests: real git repositories in a temp dir, a local host, asyncio.

Every git command (the tests' own and the providers') runs with a fixed identity and no user
or system git config, so results do not depend on the machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metawsm.hosts import LocalHost
from tests.helpers.git import RepoFactory, isolate_git


@pytest.fixture
def anyio_backend() -> str:
    """Workspace code runs under the asyncio backend in production (ARCHITECTURE.md §3)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_git(monkeypatch)


@pytest.fixture
def factory(tmp_path: Path) -> RepoFactory:
    """Makes clones (and their bare origins) under ``<tmp>/src``."""
    base = tmp_path / "src"
    base.mkdir()
    return RepoFactory(base)


@pytest.fixture
def host() -> LocalHost:
    return LocalHost()
