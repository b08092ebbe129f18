"""The supervisor end to end: real `metawsm serve`, real tmux, real git, scripted agents."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from tests.supervisor.world import EXIT0, EXIT3, HOLD, World, wait_until

FOUR = {f"a{i}": HOLD for i in range(1, 5)}


def _agents(world: World) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in world.status()["agents"]}


def test_four_agents_respawn_adopt_and_clean_up(make_world: Callable[..., World]) -> None:
    world = make_world(FOUR)
    server = world.serve()
    submitted = world.json("run", "--ticket", "T-1", "--repos", "api,web", "--detach")
    assert [s["status"] for s in submitted["steps"]] == ["done"] * 7
    agents = wait_until(
        lambda: (a := _agents(world)) and all(x["status"] == "running" for x in a.values()) and a,
        what="4 running agents",
    )
    assert sorted(agents) == ["a1", "a2", "a3", "a4"]
    assert all(a["generation"] == 1 and a["host"] == "local" for a in agents.values())
    sessions = world.sessions()
    assert sessions == sorted(a["session"] for a in agents.values())

    # Killing one agent's process gets it respawned as generation 2.
    os.kill(world.pane_pid(agents["a2"]["session"]), signal.SIGKILL)
    wait_until(
        lambda: (a := _agents(world)["a2"])["generation"] == 2 and a["status"] == "running",
        what="a2 respawned as generation 2",
    )
    assert {n: a["generation"] for n, a in _agents(world).items()} == {
        "a1": 1,
        "a2": 2,
        "a3": 1,
        "a4": 1,
    }

    # kill -9 of the supervisor, then a new one adopts every live session.
    server.kill()
    server.wait()
    assert world.sessions() == sessions  # agents outlive their supervisor
    world.serve()
    after = wait_until(
        lambda: (a := _agents(world)) and world.status()["supervisor"] == "up" and a,
        what="the new supervisor's status",
    )
    assert world.sessions() == sessions
    assert {n: a["generation"] for n, a in after.items()} == {"a1": 1, "a2": 2, "a3": 1, "a4": 1}
    adopted = {e.entity_id for e in world.events(submitted["run_id"]) if e.event_type == "adopted"}
    assert adopted == {f"{name}@{a['workspace']}" for name, a in after.items()}

    # stop then cleanup leaves no session and no worktree behind.
    world.cli("stop", "--ticket", "T-1")
    assert world.sessions() == []
    assert world.status()["status"] == "stopped"
    world.cli("cleanup", "--ticket", "T-1")
    workspaces = world.root / ".metawsm" / "workspaces"
    assert not workspaces.exists() or list(workspaces.iterdir()) == []
    for repo in ("api", "web"):
        listed = subprocess.run(
            ["git", "worktree", "list"],
            cwd=world.root / "repos" / repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert len(listed.splitlines()) == 1, listed


def test_an_agent_failing_past_its_budget_is_failed_and_the_run_says_why(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"bad": EXIT3}, operator={"restart_budget": 1})
    world.serve()
    world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach", check=False)
    status = wait_until(
        lambda: (s := world.status())["status"] == "failed" and s, what="the run to fail"
    )
    agent = status["agents"][0]
    assert agent["status"] == "failed"
    assert agent["exit_status"] == 3
    assert "bad@" in status["last_message"]
    world.cli("cleanup", "--ticket", "T-1")


def test_agents_that_exit_0_complete_the_run_in_the_foreground(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"quick": EXIT0, "quick2": EXIT0})
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api,web")
    assert "Run ID: run-" in proc.stdout
    status = world.status()
    assert status["status"] == "completed"
    assert status["supervisor"] == "down"
    assert {a["status"] for a in status["agents"]} == {"stopped"}
    assert {a["exit_status"] for a in status["agents"]} == {0}
    world.cli("cleanup", "--ticket", "T-1")
    assert world.sessions() == []


def test_a_second_supervisor_on_the_same_root_is_refused(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    second = world.cli("serve", check=False, timeout=30)
    assert second.returncode == 1
    assert "a supervisor is already running" in second.stderr
    assert "Traceback" not in second.stderr


def test_sigterm_stops_the_supervisor_and_leaves_agents_running(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    server = world.serve()
    world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach")
    sessions = wait_until(world.sessions, what="the agent's session")
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0
    assert world.sessions() == sessions
    assert not (world.root / ".metawsm" / "control.sock").exists()
    offline = world.status()
    assert offline["supervisor"] == "down"
    world.cli("stop", "--ticket", "T-1")
    assert world.sessions() == []


def test_dry_run_writes_the_plan_and_touches_nothing_else(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    out = world.json("run", "--ticket", "T-1", "--repos", "api", "--dry-run")
    assert out["dry_run"] is True
    assert [s["kind"] for s in out["steps"]] == [
        "verify_ticket",
        "workspace",
        "ticket_context_sync",
        "tmux_start",
    ]
    assert out["preflight"] == []  # every agent's program is there
    assert world.sessions() == []
    assert not (world.root / ".metawsm" / "workspaces").exists()
    # No supervisor was started for it: no lock, no supervisor log.
    assert not (world.root / ".metawsm" / "serve.lock").exists()
    assert not (world.root / ".metawsm" / "logs").exists()
    assert world.json("runs") == []  # a dry run is not an active run
    assert world.json("runs", "--all")[0]["status"] == "planned"  # not "paused"
