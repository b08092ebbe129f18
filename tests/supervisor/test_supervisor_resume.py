"""Resume, adopt, restart and stop, end to end (real `metawsm serve`, tmux, git, CLI).

A run that failed resumes from its first step not done; a run a dead supervisor left mid-plan
is finished by the next one without starting anything twice; restart makes new generations;
stop and status work with the supervisor down.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import anyio

from metawsm.core import record_new_run
from metawsm.docs.native import NativeDocsProvider
from metawsm.hosts import LocalHost
from metawsm.runs.spec import RunRequest
from metawsm.store.client import DirectStore
from metawsm.store.reader import Reader
from metawsm.supervisor.environment import Environment
from tests.supervisor.world import HOLD, World, wait_until


def _agents(world: World, ticket: str = "T-1") -> dict[str, dict[str, Any]]:
    status = world.json("status", "--ticket", ticket, "--no-diffs")
    return {a["name"]: a for a in status["agents"]}


def _settled(world: World, ticket: str = "T-1") -> dict[str, Any] | None:
    """The status once every step is done and every agent runs, else None."""
    status: dict[str, Any] = world.json("status", "--ticket", ticket, "--no-diffs")
    steps_done = all(s["status"] == "done" for s in status["steps"])
    agents_up = all(a["status"] == "running" for a in status["agents"])
    return status if status["status"] == "running" and steps_done and agents_up else None


def test_a_run_failed_at_a_missing_ticket_resumes_once_the_ticket_exists(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    proc = world.cli("run", "--ticket", "T-2", "--repos", "api", "--detach", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    first, hint = proc.stderr.strip().splitlines()
    assert first.startswith("error: step 1 verify-doc-ticket-T-2 failed: ticket T-2 not found")
    assert hint.startswith("hint: ") and "metawsm resume --run-id run-" in hint

    status = world.json("status", "--ticket", "T-2", "--no-diffs")
    run_id = status["run_id"]
    assert status["status"] == "failed"
    assert status["last_message"].startswith("step 1 verify-doc-ticket-T-2 failed: ")
    assert [s["status"] for s in status["steps"]] == ["failed", "pending", "pending", "pending"]
    assert "ticket T-2 not found" in status["steps"][0]["error"]
    # execution.step_retries (1 by default): two attempts, each recorded.
    attempts = [
        (e.to_state, e.message)
        for e in world.events(run_id)
        if e.entity_type == "step" and e.entity_id == "1"
    ]
    assert [a for a in attempts if a[0] == "running"] == [
        ("running", "attempt 1"),
        ("running", "attempt 2"),
    ]
    assert [a[0] for a in attempts].count("failed") == 2
    assert not world.workspaces_dir.exists()
    assert world.sessions() == []

    anyio.run(NativeDocsProvider(LocalHost(), str(world.root / "ttmp")).create_ticket, "T-2", "x")
    resumed = world.json("resume", "--ticket", "T-2")
    assert resumed["run_id"] == run_id
    assert [s["status"] for s in resumed["steps"]] == ["done"] * 4
    status = world.json("status", "--ticket", "T-2", "--no-diffs")
    assert status["status"] == "running"
    agent = status["agents"][0]
    assert (agent["status"], agent["generation"]) == ("running", 1)
    assert world.sessions() == [agent["session"]]
    assert (world.workspaces_dir / agent["workspace"] / "api" / "ttmp").is_dir()


def test_a_run_left_in_planning_is_planned_by_the_next_supervisor(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD, "b": HOLD})

    # What `submit` records before executing anything; then the supervisor "died".
    async def record() -> str:
        env = Environment.load(root=world.root)
        async with DirectStore(env.db_path) as store:
            with Reader(env.db_path) as reader:
                request = RunRequest(tickets=["T-1"], repos=["api", "web"])
                spec = await record_new_run(store, env, request, reader)
        return spec.run_id

    run_id = anyio.run(record)
    offline = world.status()
    assert (offline["status"], offline["supervisor"]) == ("planning", "down")
    assert {s["status"] for s in offline["steps"]} == {"pending"}
    assert [r["run_id"] for r in world.json("runs")] == [run_id]  # planning is active

    world.serve()
    status = wait_until(lambda: _settled(world), timeout=30, what="the plan executed")
    assert {a["generation"] for a in status["agents"]} == {1}
    assert world.sessions() == sorted(a["session"] for a in status["agents"])
    assert "plan_executed" in [e.event_type for e in world.events(run_id)]


def test_a_supervisor_killed_mid_plan_is_finished_without_starting_twice(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    server = world.serve()
    submit = world.cli_background("run", "--ticket", "T-1", "--repos", "api", "--detach")

    # Kill -9 the supervisor while the agent's start is being verified: the session exists,
    # the agent is recorded running, and its tmux_start step is still `running`.
    def mid_start() -> bool:
        if not world.db_path.exists():
            return False
        with world.reader() as reader:
            runs = reader.list_runs()
            if not runs:
                return False
            steps = reader.list_steps(runs[0].run_id)
            agents = reader.list_agents(runs[0].run_id)
        assert steps[-1].status != "done", "missed the start window"
        return steps[-1].status == "running" and agents[0].status == "running"

    deadline = time.monotonic() + 30
    while not mid_start():
        assert time.monotonic() < deadline, "the agent never started"
        time.sleep(0.02)
    server.kill()
    server.wait()
    submit.wait(timeout=30)
    assert submit.returncode != 0
    session = world.sessions()
    assert len(session) == 1
    pid = world.pane_pid(session[0])

    world.serve()
    status = wait_until(lambda: _settled(world), timeout=30, what="the plan finished")
    agent = status["agents"][0]
    assert (agent["generation"], agent["restarts"]) == (1, 0)
    assert world.sessions() == session
    assert world.pane_pid(session[0]) == pid  # adopted, not started again
    events = world.events(status["run_id"])
    assert "interrupted: the supervisor stopped during this step" in [e.message for e in events]
    assert "adopted" in [e.event_type for e in events]
    starts = [e for e in events if e.entity_type == "agent" and e.message.startswith("started")]
    assert len(starts) == 1


def test_restart_makes_new_generations_and_dry_run_changes_nothing(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD, "b": HOLD})
    world.serve()
    world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach")
    before = _agents(world)
    pids = {n: world.pane_pid(a["session"]) for n, a in before.items()}

    def incarnations(agents: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        return {n: (a["status"], a["generation"], a["restarts"]) for n, a in agents.items()}

    dry = world.cli("restart", "--ticket", "T-1", "--dry-run")
    assert dry.stdout.count("as generation 2") == 2
    assert (
        incarnations(_agents(world))
        == incarnations(before)
        == {
            "a": ("running", 1, 0),
            "b": ("running", 1, 0),
        }
    )
    assert {n: world.pane_pid(a["session"]) for n, a in before.items()} == pids

    out = world.json("restart", "--ticket", "T-1")
    assert out["agents_restarted"] == 2
    after = _agents(world)
    # The operator's restart is a new generation, and not a crash restart: the budget of
    # crash restarts starts again at 0.
    assert incarnations(after) == {"a": ("running", 2, 0), "b": ("running", 2, 0)}
    assert world.sessions() == sorted(a["session"] for a in before.values())
    assert all(world.pane_pid(a["session"]) != pids[n] for n, a in after.items())


def test_stop_and_status_without_a_supervisor(make_world: Callable[..., World]) -> None:
    world = make_world({"a": HOLD})
    server = world.serve()
    world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach")
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0

    text = world.cli("status", "--ticket", "T-1", "--no-diffs").stdout
    assert "Supervisor: down" in text
    assert [r["status"] for r in world.json("runs")] == ["running"]
    assert world.cli("resume", "--ticket", "T-1", check=False).returncode == 1  # needs one

    stopped = world.cli("stop", "--ticket", "T-1")
    assert "applied directly" in stopped.stdout
    assert world.sessions() == []
    status = world.status()
    assert (status["status"], status["supervisor"]) == ("stopped", "down")
    assert {a["status"] for a in status["agents"]} == {"stopped"}
    assert world.json("runs") == []
    assert [r["status"] for r in world.json("runs", "--all")] == ["stopped"]
    # A supervisor started later has nothing to adopt and starts nothing.
    world.serve()
    time.sleep(0.5)
    assert world.sessions() == []
    assert "0 active run(s) adopted" in world.serve_log()
    assert os.path.exists(world.state_dir / "control.sock")
