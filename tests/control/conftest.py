from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # metawsm runs on asyncio (asyncssh and aiosqlite need it); actors/ is tested on both.
    return "asyncio"


@pytest.fixture
def sock_path() -> Iterator[Path]:
    # A short path: AF_UNIX paths are limited to 108 bytes and pytest's tmp_path can be deep.
    with tempfile.TemporaryDirectory(prefix="mw-") as folder:
        yield Path(folder) / ".metawsm" / "control.sock"
