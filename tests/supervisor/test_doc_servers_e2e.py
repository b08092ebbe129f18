"""A docmgr server per active workspace, end to end: real ``metawsm serve``, real docmgr.

The run's workspace docs are served by ``docmgr api serve`` (``docs.api.serve_workspaces``
``auto``, docmgr from ``make tools`` on PATH) and federated as the workspace's endpoint; the
server comes back after it is killed, is adopted after a ``kill -9`` of the supervisor, and
stops with the run.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tools import require_tool
from tests.supervisor.world import HOLD, World, wait_until


def _docs(world: World) -> dict[str, Any] | None:
    """``metawsm docs --json``, or None while no supervisor answers yet."""
    proc = world.cli("docs", "--json", check=False)
    if proc.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _served(world: World) -> dict[str, Any] | None:
    """The workspace endpoint once it is reachable, with its server's recorded pid."""
    data = _docs(world)
    if data is None or data.get("supervisor") != "up":
        return None
    eps = [e for e in data["endpoints"] if e["kind"] == "workspace" and e["reachable"]]
    if len(eps) != 1:
        return None
    pidfile = world.state_dir / "docservers" / f"{eps[0]['workspace']}.json"
    if not pidfile.exists():
        return None
    return {**eps[0], "pid": json.loads(pidfile.read_text())["pid"], "tickets": data["tickets"]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "docmgr" in Path(f"/proc/{pid}/cmdline").read_text()


@pytest.fixture
def no_orphans(tmp_path: Path) -> Iterator[None]:
    """Kill every docmgr server a pid file under ``tmp_path`` still names (a failed test)."""
    yield
    for pidfile in tmp_path.glob(".metawsm/docservers/*.json"):
        pid = json.loads(pidfile.read_text())["pid"]
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.usefixtures("no_orphans")
def test_a_run_serves_its_workspace_docs_survives_kills_and_stops_with_the_run(
    make_world: Callable[..., World], tmp_path: Path
) -> None:
    docmgr = require_tool("docmgr")
    world = make_world({"a1": HOLD}, policy={"docs": {"api": {"poll_interval_seconds": 1}}})
    world.env["PATH"] = f"{docmgr.parent}{os.pathsep}{world.env['PATH']}"
    world.env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    server = world.serve()
    world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")

    first = wait_until(lambda: _served(world), timeout=120, what="the workspace docs served")
    assert first["name"] == f"ws:{first['workspace']}"
    assert first["repo"] == "api" and first["managed"] is True
    assert [(t["ticket"], t["active"], t["source_kind"]) for t in first["tickets"]] == [
        ("T-1", True, "workspace")
    ]
    status = world.status()
    assert [(e["name"], e["reachable"]) for e in status["docs"]["endpoints"]] == [
        (first["name"], True)
    ]

    # A crashed docmgr server is started again and registered on its new port.
    os.kill(first["pid"], signal.SIGKILL)
    second = wait_until(
        lambda: (s := _served(world)) and s["pid"] != first["pid"] and s,
        timeout=120,
        what="the docmgr server restarted",
    )
    assert second["base_url"] != first["base_url"] or second["pid"] != first["pid"]

    # kill -9 of the supervisor: the server outlives it and the next supervisor adopts it.
    server.kill()
    server.wait()
    assert _alive(second["pid"])
    world.serve()
    adopted = wait_until(
        lambda: (s := _served(world)) and s, timeout=120, what="the server adopted"
    )
    assert (adopted["pid"], adopted["base_url"]) == (second["pid"], second["base_url"])

    # The run ends: its docs server stops and its endpoint goes away.
    world.cli("stop", "--ticket", "T-1")
    wait_until(lambda: not _alive(second["pid"]), timeout=60, what="the docmgr server stopped")
    assert not (world.state_dir / "docservers" / f"{second['workspace']}.json").exists()
    gone = world.cli("docs", "--json", check=False)
    assert gone.returncode != 0
    assert "no docs.api endpoints configured" in gone.stderr
