"""One tick of an SSH host's observer is ONE remote command: tmux snapshot and signal stats."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from metawsm.hosts import LocalHost
from metawsm.hosts.tmux import TmuxServer
from metawsm.supervisor.environment import Site
from metawsm.supervisor.observer import HostObserver
from tests.helpers.sshd import Sshd
from tests.hosts.test_ssh_host import make_host

pytestmark = pytest.mark.anyio


@pytest.fixture
async def remote_tmux(sshd: Sshd) -> AsyncIterator[TmuxServer]:
    folder = tempfile.mkdtemp(prefix="mwo-", dir="/tmp")
    host = make_host(sshd)
    server = TmuxServer(host, f"{folder}/t.sock")
    try:
        yield server
    finally:
        # the host may be cut by the test: end its tmux server from this side
        await TmuxServer(LocalHost(), server.socket).kill_server()
        await host.aclose()
        shutil.rmtree(folder, ignore_errors=True)


async def test_a_tick_is_one_remote_command(remote_tmux: TmuxServer, tmp_path: Path) -> None:
    host = remote_tmux.host
    site = Site("box", host, remote_tmux, str(tmp_path), {}, 0)
    observer = HostObserver("box", remote_tmux, 1.0, site=site, wait_first=False)
    signal = tmp_path / "with space" / "guidance-request.json"
    signal.parent.mkdir()
    signal.write_text("{}")
    absent = tmp_path / "absent.json"
    observer.watch([str(signal), str(absent)])
    await remote_tmux.new_session("obs-1", cwd=str(tmp_path), argv=["sleep", "600"], env={"A": "1"})
    try:
        before = host.commands  # type: ignore[attr-defined]
        tick = await observer.observe_once()
        assert host.commands == before + 1  # type: ignore[attr-defined]
        assert tick.snapshot is not None and "obs-1" in tick.snapshot
        assert tick.stats is not None
        facts = tick.stats[str(signal)]
        assert facts is not None and facts.size == 2
        assert facts.mtime == pytest.approx(os.stat(signal).st_mtime, abs=1e-6)  # ns, not s
        assert tick.stats[str(absent)] is None
        observer.unwatch([str(signal), str(absent)])
        tick = await observer.observe_once()
        assert tick.stats == {}
    finally:
        await remote_tmux.kill_session("obs-1")


async def test_a_lost_host_makes_unknown_ticks(remote_tmux: TmuxServer, sshd: Sshd) -> None:
    site = Site("box", remote_tmux.host, remote_tmux, "/", {}, 0)
    observer = HostObserver("box", remote_tmux, 1.0, site=site, wait_first=False)
    assert not (await observer.observe_once()).unknown
    sshd.stop()
    tick = await observer.observe_once()
    assert tick.unknown and tick.error and tick.stats is None
    sshd.start()
