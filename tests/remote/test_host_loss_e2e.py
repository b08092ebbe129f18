"""A host's loss: a real network cut (network namespace, veth link set down) and its return.

The host shows ``unreachable`` with since and error, its agents ``unknown`` (never dead) and
nothing is respawned while it is away; the local host's ticks go on; on return the agent is
adopted with its generation and nothing is started twice. A stop while the host is away is
deferred until it returns, or recorded at once with ``--force``, leaving the remote side.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers.sshd import Sshd
from tests.remote.remote_kit import remote_sessions, remote_tmux_socket, remote_world
from tests.supervisor.world import HOLD, World, wait_until

pytestmark = pytest.mark.slow


def _host(world: World, name: str) -> dict[str, Any]:
    rows = world.json("hosts")["hosts"]
    return next(r for r in rows if r["name"] == name)


def _pane_pid(socket: str, session: str) -> int:
    out = subprocess.run(
        ["tmux", "-S", socket, "list-panes", "-t", f"={session}", "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[0])


def _agent(world: World, run_id: str) -> dict[str, Any]:
    agent: dict[str, Any] = world.json("status", "--run-id", run_id, "--no-diffs")["agents"][0]
    return agent


def test_a_cut_host_is_unreachable_then_adopted_with_nothing_started_twice(
    make_world: Callable[..., World], sshd_factory: Callable[..., Sshd]
) -> None:
    cut = sshd_factory(netns=True)
    with remote_tmux_socket() as socket:
        world = remote_world(make_world, {"a": HOLD}, {"far": (cut, socket)})
        world.serve()
        remote = world.json("run", "--ticket", "T-1", "--repos", "api", "--host", "far", "--detach")
        run_id = remote["run_id"]
        session = wait_until(lambda: remote_sessions(socket), timeout=30, what="remote session")[0]
        wait_until(lambda: _agent(world, run_id)["health"] == "healthy", what="healthy agent")
        pid = _pane_pid(socket, session)
        assert _host(world, "far")["state"] == "connected"
        local_seen = _host(world, "local")["last_observation"]

        cut.cut()
        row = wait_until(
            lambda: (h := _host(world, "far"))["state"] == "unreachable" and h,
            timeout=20,
            what="the host shown unreachable",
        )
        assert row["since"] and row["error"]
        wait_until(lambda: _agent(world, run_id)["health"] == "unknown", what="unknown health")
        # the local host is still observed while the far one is away
        wait_until(
            lambda: _host(world, "local")["last_observation"] != local_seen,
            what="local ticks during the cut",
        )
        agent = _agent(world, run_id)
        assert agent["status"] == "running" and agent["generation"] == 1
        assert _pane_pid(socket, session) == pid  # the agent itself never noticed

        cut.restore()
        wait_until(
            lambda: _host(world, "far")["state"] == "connected",
            timeout=60,
            what="the host back",
        )
        wait_until(lambda: _agent(world, run_id)["health"] == "healthy", what="healthy again")
        agent = _agent(world, run_id)
        assert agent["generation"] == 1 and agent["restarts"] == 0
        assert remote_sessions(socket) == [session]
        assert _pane_pid(socket, session) == pid  # adopted, not started again
        events = world.events(run_id)
        assert not [e for e in events if e.to_state in ("dead", "failed")]
        assert "restart_scheduled" not in [e.event_type for e in events]
        assert not [s for s in (world.steps(run_id)) if s.status == "failed"]
        world.cli("stop", "--run-id", run_id)


def test_stop_on_an_unreachable_host_waits_for_it_or_is_forced(
    make_world: Callable[..., World], sshd_factory: Callable[..., Sshd]
) -> None:
    cut = sshd_factory(netns=True)
    with remote_tmux_socket() as socket:
        world = remote_world(make_world, {"a": HOLD}, {"far": (cut, socket)})
        world.serve()
        first = world.json("run", "--ticket", "T-1", "--repos", "api", "--host", "far", "--detach")
        wait_until(lambda: remote_sessions(socket), timeout=30, what="remote session")
        cut.cut()
        wait_until(lambda: _host(world, "far")["state"] == "unreachable", timeout=20, what="cut")
        stopped = world.cli("stop", "--run-id", first["run_id"])
        assert "is unreachable" in stopped.stdout and "stop when it returns" in stopped.stdout
        assert world.json("status", "--run-id", first["run_id"], "--no-diffs")["status"] == (
            "stopping"
        )
        assert len(remote_sessions(socket)) == 1  # nothing reached the host
        cut.restore()
        wait_until(lambda: not remote_sessions(socket), timeout=60, what="the deferred stop")
        wait_until(
            lambda: (
                world.json("status", "--run-id", first["run_id"], "--no-diffs")["status"]
                == "stopped"
            ),
            what="the run stopped",
        )

        world.cli("cleanup", "--run-id", first["run_id"])
        second = world.json("run", "--ticket", "T-1", "--repos", "api", "--host", "far", "--detach")
        wait_until(lambda: remote_sessions(socket), timeout=30, what="second remote session")
        cut.cut()
        wait_until(lambda: _host(world, "far")["state"] == "unreachable", timeout=20, what="cut")
        forced = world.json("stop", "--run-id", second["run_id"], "--force")
        assert not forced.get("deferred")
        status = world.json("status", "--run-id", second["run_id"], "--no-diffs")
        assert status["status"] == "stopped"
        assert status["agents"][0]["status"] == "stopped"
        assert len(remote_sessions(socket)) == 1  # the remote side was left as it was
        cut.restore()
