"""Fixtures for the docs tests: a local host, temp docs roots, a fake ``docmgr`` on PATH.

The docs code runs on asyncio in production (ARCHITECTURE.md §3), so the tests do too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metawsm.hosts import LocalHost
from tests.helpers import fake_docmgr


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def host() -> LocalHost:
    return LocalHost()


@pytest.fixture
def docmgr_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts the fake ``docmgr`` first on PATH; returns the file its calls are logged to."""
    bin_dir = tmp_path / "bin"
    fake_docmgr.install(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "docmgr-calls.jsonl"
    monkeypatch.setenv("FAKE_DOCMGR_LOG", str(log))
    for name in ("FAKE_DOCMGR_FAIL", "FAKE_DOCMGR_NOISE", "DOCMGR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return log
