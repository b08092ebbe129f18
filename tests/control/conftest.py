from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # metawsm runs on asyncio (asyncssh and aiosqlite need it); actors/ is tested on both.
    return "asyncio"
