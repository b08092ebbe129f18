"""Fixtures for status and health tests: asyncio, real git repositories, a private tmux server.

Git commands (the tests' own and the code's) run with a fixed identity and no user or system
config; tmux tests get a throwaway ``TMUX_TMPDIR`` and server, never the user's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.git import git_env, host  # noqa: F401 - shared fixtures
from tests.helpers.tmux import tmux_server, tmux_tmpdir

__all__ = ["tmux_server", "tmux_tmpdir"]


@pytest.fixture
def anyio_backend() -> str:
    """metawsm runs on asyncio in production (ARCHITECTURE.md §3)."""
    return "asyncio"


@pytest.fixture
def workspaces_root(tmp_path: Path) -> Path:
    """``<tmp>/workspaces``: each workspace is ``<root>/<ws>/<repo>``."""
    root = tmp_path / "workspaces"
    root.mkdir()
    return root
