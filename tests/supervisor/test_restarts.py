"""Restarts mean what the policy page says (real `metawsm serve`, real tmux, scripted agents).

- The first respawn after a crash is immediate; ``operator.restart_cooldown_seconds`` is the
  least time between two crash restarts, not a wait counted from the agent's start.
- Only crash restarts count against ``operator.restart_budget``: the operator's ``restart``,
  ``iterate`` and ``resume`` give a fresh budget.
- An agent past its budget is escalated with the command that acts; ``guide`` says so instead
  of answering no one, and the operator's restart closes the escalation.
- An agent that fails its start verification is recorded failed once per attempt, but the run
  records ``agent_failed`` and a guidance request for it never (the failed step says why).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from tests.supervisor.world import HOLD, World, wait_until


def _agent(world: World) -> dict[str, Any]:
    agents: list[dict[str, Any]] = world.status()["agents"]
    assert len(agents) == 1
    return agents[0]


def _kill(world: World, agent: dict[str, Any]) -> None:
    os.kill(world.pane_pid(agent["session"]), signal.SIGKILL)


def _running(world: World, generation: int) -> dict[str, Any]:
    return wait_until(
        lambda: (a := _agent(world))["generation"] == generation and a["status"] == "running" and a,
        timeout=12,
        what=f"the agent running as generation {generation}",
    )


def test_the_first_crash_restart_is_immediate_and_the_cooldown_spaces_crash_restarts(
    make_world: Callable[..., World],
) -> None:
    # A long cooldown: the old rule (cooldown from the agent's start) made a kill in the
    # first minute wait it out; the first respawn must not wait at all.
    world = make_world({"a": HOLD}, operator={"restart_budget": 3, "restart_cooldown_seconds": 60})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    first = _running(world, 1)
    _kill(world, first)
    second = _running(world, 2)  # well within the 60 s cooldown from the start
    assert second["restarts"] == 1

    # A second crash within the cooldown of the first restart waits for the cooldown's end.
    _kill(world, second)
    wait_until(
        lambda: any(e.event_type == "restart_scheduled" for e in world.events(run_id)),
        what="the second respawn scheduled at the cooldown's end",
    )
    time.sleep(1.5)  # several ticks: the respawn is not done early
    dead = _agent(world)
    assert (dead["status"], dead["generation"]) == ("dead", 2)
    world.cli("stop", "--ticket", "T-1")


def test_operator_restarts_give_a_fresh_budget_and_the_escalation_names_the_command(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD}, operator={"restart_budget": 1, "restart_cooldown_seconds": 1})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    _running(world, 1)

    # Three restarts by the operator do not spend the budget of one crash restart.
    for generation in (2, 3, 4):
        world.cli("restart", "--ticket", "T-1")
        agent = _running(world, generation)
        assert agent["restarts"] == 0
    _kill(world, agent)
    agent = _running(world, 5)  # the crash restart the budget allows
    assert agent["restarts"] == 1

    # The next crash is past the budget: the agent fails, and the escalation says what acts.
    _kill(world, agent)
    status = wait_until(
        lambda: (s := world.status())["agents"][0]["status"] == "failed" and s,
        what="the agent failed past its budget",
    )
    wait_until(lambda: world.status()["guidance"], what="the escalation")
    [escalation] = world.status()["guidance"]
    assert f"metawsm resume --run-id {run_id}" in escalation["question"]
    assert status["status"] == "failed"

    # `guide` cannot restart it and says so, with the command; it changes nothing.
    refused = world.cli("guide", "--ticket", "T-1", "--answer", "go on", check=False)
    assert refused.returncode == 1, refused.stdout
    assert "has failed" in refused.stderr
    assert f"metawsm resume --run-id {run_id}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(world.status()["guidance"]) == 1

    # `resume` restarts it with a fresh budget and closes the escalation.
    world.cli("resume", "--ticket", "T-1")
    agent = _running(world, 6)
    assert agent["restarts"] == 0
    after = world.status()
    assert after["guidance"] == []
    assert after["status"] == "running"
    _kill(world, agent)
    assert _running(world, 7)["restarts"] == 1  # a budget of one crash restart again
    world.cli("stop", "--ticket", "T-1")


def test_an_agent_failing_its_start_verification_is_reported_once(
    make_world: Callable[..., World],
) -> None:
    # Exits 3 at once (a shell, not a Python start-up that may outlast the verification on a
    # loaded machine): the start verification sees it, in both attempts of the step.
    world = make_world(
        {"unused": HOLD},
        policy={
            "execution": {"step_retries": 1},
            "agent_profiles": [
                {"name": "p-bad", "runner": "shell", "runner_options": {"command": "exit 3"}}
            ],
            "agents": [{"name": "bad", "profile": "p-bad"}],
        },
    )
    # The shell runner is a login bash: with a HOME without profiles it starts at once (the
    # machine's own profile may take longer than the start verification).
    (world.root / "home").mkdir()
    world.env["HOME"] = str(world.root / "home")
    world.serve()
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach", check=False)
    assert proc.returncode == 1
    assert "right after start" in proc.stderr
    run_id = world.json("runs", "--all")[0]["run_id"]
    wait_until(lambda: world.status()["status"] == "failed", what="the run failed")
    time.sleep(1.0)  # anything queued behind the plan has been handled
    events = world.events(run_id)
    starts = [e for e in events if e.message.startswith("started in tmux")]
    assert len(starts) == 2  # the step and its one retry
    assert [e for e in events if e.event_type == "agent_failed"] == []
    with world.reader() as reader:
        assert reader.list_guidance(run_id) == []
    assert "step" in world.status()["last_message"]
