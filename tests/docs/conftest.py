"""Fixtures for the docs tests: a local host, the real ``docmgr`` (or the fake) on PATH.

The docs code runs on asyncio in production (ARCHITECTURE.md §3), so the tests do too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metawsm.hosts import LocalHost
from tests.helpers import fake_docmgr
from tests.helpers.tools import install_recording_shim, require_tool


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def host() -> LocalHost:
    return LocalHost()


def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("FAKE_DOCMGR_FAIL", "FAKE_DOCMGR_NOISE", "DOCMGR_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def docmgr_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts the real ``docmgr`` first on PATH (through a recording shim) in an isolated home.

    Returns the file its calls are logged to (``tests/helpers/tools.py``).
    """
    _isolate(tmp_path, monkeypatch)
    shim = install_recording_shim(require_tool("docmgr"), tmp_path / "bin", "DOCMGR_CALL_LOG")
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "docmgr-calls.jsonl"
    monkeypatch.setenv("DOCMGR_CALL_LOG", str(log))
    return log


@pytest.fixture
def fake_docmgr_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts the fake ``docmgr`` first on PATH, for what the real one cannot be made to show.

    Returns the file its calls are logged to.
    """
    _isolate(tmp_path, monkeypatch)
    bin_dir = tmp_path / "fake-bin"
    fake_docmgr.install(bin_dir)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "docmgr-calls.jsonl"
    monkeypatch.setenv("FAKE_DOCMGR_LOG", str(log))
    return log
