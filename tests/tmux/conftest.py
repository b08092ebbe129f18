"""Fixtures for the tmux client's tests: asyncio, and a private tmux server per test.

Every test runs with ``TMUX_TMPDIR`` pointed at a fresh short folder (``tmux_tmpdir``, autouse),
so even the "default" server a test may reach is a throwaway one, never the user's.
"""

from __future__ import annotations

import pytest

from tests.helpers.tmux import make_tmux_server, tmux_server, tmux_tmpdir

__all__ = ["make_tmux_server", "tmux_server", "tmux_tmpdir"]


@pytest.fixture
def anyio_backend() -> str:
    """metawsm runs on asyncio in production (ARCHITECTURE.md §3)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _isolated_tmux(tmux_tmpdir: str) -> str:
    return tmux_tmpdir
