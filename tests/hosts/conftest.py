"""Fixtures for the host layer's tests: asyncio (asyncssh needs it) and private sshd servers."""

from __future__ import annotations

import pytest

from tests.helpers.sshd import sshd, sshd_factory

__all__ = ["sshd", "sshd_factory"]


@pytest.fixture
def anyio_backend() -> str:
    """asyncssh runs on asyncio only (deps-spike.md §2)."""
    return "asyncio"
