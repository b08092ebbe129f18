"""The real ``docmgr`` and ``wsm`` binaries the suite runs against (``make tools``).

``.ci/install-tools`` builds them into ``<checkout>/.tools/bin``; ``METAWSM_TOOLS_BIN`` names
another folder. A test that needs a tool that is not there is skipped with the reason, unless
``METAWSM_REQUIRE_REAL_TOOLS=1`` (CI), where it fails: a missing binary must not pass as a skip.

:func:`install_recording_shim` puts a wrapper named like the tool first on a folder: it
appends one JSON line per call (argv, cwd, whether stdin is ``/dev/null``, whether the process
leads its own session) to a log and then ``exec``\\ s the real binary, so tests can check how
metawsm ran the real tool without replacing it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRE_ENV = "METAWSM_REQUIRE_REAL_TOOLS"

_SHIM = """\
#!{python}
import json, os, stat, sys
try:
    devnull = stat.S_ISCHR(os.fstat(0).st_mode) and os.path.samestat(
        os.fstat(0), os.stat(os.devnull))
except OSError:
    devnull = True  # stdin closed counts as no input
entry = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "stdin_devnull": devnull,
         "session_leader": os.getsid(0) == os.getpid()}}
log = os.environ.get({log_env!r})
if log:
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\\n")
os.execv({real!r}, [{real!r}, *sys.argv[1:]])
"""


def tools_bin() -> Path:
    """The folder the real tools are installed in."""
    configured = os.environ.get("METAWSM_TOOLS_BIN")
    return Path(configured) if configured else REPO_ROOT / ".tools" / "bin"


def find_tool(name: str) -> Path | None:
    """The real ``name`` binary, or None when it is not installed."""
    path = tools_bin() / name
    return path if path.is_file() and os.access(path, os.X_OK) else None


def require_tool(name: str) -> Path:
    """The real ``name`` binary; skips the test (fails it in CI) when it is missing."""
    path = find_tool(name)
    if path is not None:
        return path
    refused = tools_bin() / f"{name}.refused"
    if refused.is_file():
        # The Go module proxy refused the pinned version and no source checkout was named:
        # nothing the project can do on this machine, so a skip that names it, even in CI.
        pytest.skip(f"the Go module proxy refused {name}: {refused.read_text().strip()}")
    reason = (
        f"the real {name} is not installed in {tools_bin()} "
        "(`make tools` builds it with Go; see .ci/install-tools)"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def install_recording_shim(real: Path, bin_dir: Path, log_env: str) -> Path:
    """A ``<bin_dir>/<name>`` that logs each call to ``$log_env`` and execs ``real``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / real.name
    shim.write_text(_SHIM.format(python=sys.executable, log_env=log_env, real=str(real)))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return shim


class RealWsm:
    """The real wsm in an isolated home (``HOME``, ``XDG_CONFIG_HOME``), with a call log.

    wsm keeps its registry and records under ``$XDG_CONFIG_HOME/workspace-manager`` and makes
    workspaces under ``$HOME/workspaces`` (contracts §D.1); both point into ``tmp_path``.
    """

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = tmp_path / "home"
        self.config = tmp_path / "config"
        self.log = tmp_path / "wsm-calls.jsonl"
        self.home.mkdir()
        shim = install_recording_shim(require_tool("wsm"), tmp_path / "bin", "WSM_CALL_LOG")
        monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(self.config))
        monkeypatch.setenv("WSM_CALL_LOG", str(self.log))

    def register(self, folder: Path) -> None:
        """``wsm discover <folder>``: the clones under it enter wsm's registry (§D.1)."""
        subprocess.run(
            ["wsm", "discover", str(folder)],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={**os.environ, "WSM_CALL_LOG": ""},
        )

    def record(self, name: str) -> Path:
        """Where wsm keeps workspace ``name``'s record."""
        return self.config / "workspace-manager" / "workspaces" / f"{name}.json"

    def calls(self) -> list[dict[str, Any]]:
        """Every call metawsm made, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]
