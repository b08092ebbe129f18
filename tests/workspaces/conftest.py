"""Fixtures for workspace tests: real git repositories in a temp dir, a local host, asyncio.

Every git command (the tests' own and the providers') runs with a fixed identity and no user
or system git config, so results do not depend on the machine.
"""

from __future__ import annotations

import pytest

from tests.helpers.git import factory, git_env, host  # noqa: F401 - shared fixtures


@pytest.fixture
def anyio_backend() -> str:
    """Workspace code runs under the asyncio backend in production (ARCHITECTURE.md §3)."""
    return "asyncio"
