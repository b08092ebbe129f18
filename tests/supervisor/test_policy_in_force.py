"""The policy in force is visible and current (real `metawsm serve`, real tmux and git).

- A running supervisor reads the policy file again for every run submitted to it: an edit
  counts from the next run on, without restarting the supervisor.
- ``--policy FILE`` given to ``run`` is the policy of that run.
- Each run keeps the snapshot it started with (``runs.policy_json``) and is supervised by it,
  whatever the file or the supervisor's own policy say later; ``status`` names the file and
  when it was read.
- An explicitly named ``--policy`` file that does not exist is an error, not the defaults.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

from tests.supervisor.world import HOLD, World, wait_until


def _agents(world: World, run_id: str) -> dict[str, dict[str, Any]]:
    status = world.json("status", "--run-id", run_id, "--no-diffs")
    return {a["name"]: a for a in status["agents"]}


def _running(world: World, run_id: str, name: str, generation: int) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (a := _agents(world, run_id).get(name))
            and a["generation"] == generation
            and a["status"] == "running"
            and a
        ),
        what=f"{name} running as generation {generation}",
    )


def test_a_run_takes_the_policy_file_as_it_is_when_submitted_and_keeps_that_snapshot(
    make_world: Callable[..., World],
) -> None:
    # The supervisor starts with a budget of one crash restart ...
    world = make_world({"a": HOLD}, operator={"restart_budget": 1, "restart_cooldown_seconds": 1})
    world.serve()

    # ... then the file is edited: a budget of three and a second agent.
    def edit(policy: dict[str, Any]) -> None:
        policy["operator"]["restart_budget"] = 3
        policy["agents"].append({"name": "b", "profile": "p-a"})

    world.edit_policy(edit)
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    assert sorted(_agents(world, run_id)) == ["a", "b"]  # the edit counted
    snapshot = json.loads(world.run_record(run_id).policy_json)
    assert snapshot["operator"]["restart_budget"] == 3

    # The file changes again; the run keeps its own snapshot: two crashes are within its
    # budget of three (the supervisor's own policy at start said one).
    world.edit_policy(lambda p: p["operator"].update(restart_budget=1))
    for generation in (2, 3):
        agent = _running(world, run_id, "a", generation - 1)
        os.kill(world.pane_pid(agent["session"]), signal.SIGKILL)
        _running(world, run_id, "a", generation)

    status = world.json("status", "--run-id", run_id, "--no-diffs")
    policy_file = str(world.state_dir / "policy.json")
    assert status["policy"]["path"] == policy_file
    assert status["policy"]["read_at"] and status["policy"]["modified_at"]
    text = world.cli("status", "--run-id", run_id, "--no-diffs").stdout
    assert f"Policy: {policy_file} (modified " in text
    assert f"read {status['policy']['read_at']})" in text
    world.cli("stop", "--run-id", run_id)


def test_the_policy_named_on_the_command_line_is_the_one_the_run_uses(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    other = json.loads((world.state_dir / "policy.json").read_text())
    other["agents"] = [{"name": "solo", "profile": "p-a"}]
    # In .metawsm/: the policy's relative paths are relative to the parent of its folder.
    (world.state_dir / "other-policy.json").write_text(json.dumps(other))

    # A named file that does not exist is an error (and no supervisor is needed to say so).
    for args in (("status", "--ticket", "T-1"), ("run", "--ticket", "T-1", "--repos", "api")):
        proc = world.cli(*args, "--policy", "no-such-policy.json", check=False)
        assert proc.returncode != 0
        assert proc.stderr.splitlines()[0] == (
            f"error: policy file {world.root / 'no-such-policy.json'} does not exist"
        )
        assert "Traceback" not in proc.stderr
    assert not (world.state_dir / "serve.lock").exists()

    world.serve()
    run_id = world.json(
        "run",
        "--ticket",
        "T-1",
        "--repos",
        "api",
        "--detach",
        "--policy",
        ".metawsm/other-policy.json",
    )["run_id"]
    assert sorted(_agents(world, run_id)) == ["solo"]
    status = world.json("status", "--run-id", run_id, "--no-diffs")
    assert status["policy"]["path"] == str(world.state_dir / "other-policy.json")
    world.cli("stop", "--run-id", run_id)

    # A policy naming another tmux server cannot be used by this supervisor: it says so.
    world.edit_policy(lambda p: p["tmux"].update(socket="another-server"))
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach", check=False)
    assert proc.returncode != 0
    assert "tmux.socket 'another-server'" in proc.stderr
    assert "restart the supervisor" in proc.stderr
