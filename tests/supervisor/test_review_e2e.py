"""Review material and honest exits, end to end (issue 7 item 5): real git, tmux and CLI.

What a reviewer reads before merging (``status`` commits and diffstat, signals per agent,
``merge --dry-run``), and exit codes and states that tell the truth (a failed foreground run,
a failing ``close --dry-run``, a failed close, the agents a close stops).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.supervisor.world import EXIT3, World, wait_until

DONE = "make test passes"

BRIEF = [
    "--goal",
    "Add a cache.",
    "--scope",
    "api",
    "--done-criteria",
    DONE,
    "--constraints",
    "no new deps",
    "--merge-intent",
    "default",
]


def finished_then_hold(path: str = "cache.py", content: str = "CACHE = {}\n") -> dict[str, Any]:
    """An agent that commits one file in api, signals complete and passed, then stays up."""
    return {
        "steps": [
            {"do": "edit", "repo": "api", "path": path, "content": content},
            {"do": "commit", "repo": "api", "message": "T-1: cache"},
            {"do": "complete", "summary": "cache added"},
            {"do": "validate", "status": "passed", "done_criteria": DONE},
            {"do": "hold"},
        ]
    }


def bootstrap_completed(world: World) -> str:
    run_id: str = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    wait_until(
        lambda: world.json("status", "--run-id", run_id, "--no-diffs")["status"] == "completed",
        timeout=60,
        what="completion",
    )
    return run_id


def test_a_foreground_run_whose_agents_fail_exits_non_zero(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"bad": EXIT3}, operator={"restart_budget": 1})
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", check=False, timeout=120)
    assert world.status()["status"] == "failed"
    assert proc.returncode == 1, proc.stdout + proc.stderr
    world.cli("cleanup", "--ticket", "T-1")


def test_close_dry_run_with_a_failing_gate_exits_non_zero(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": finished_then_hold()})
    world.serve()
    run_id = bootstrap_completed(world)
    workspace = next(world.workspaces_dir.iterdir())
    (workspace / "api" / "stray.txt").write_text("not committed\n")
    dry = world.cli("close", "--run-id", run_id, "--dry-run", check=False)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "FAIL repo_clean" in dry.stdout
    dry_json = world.cli("close", "--run-id", run_id, "--dry-run", "--json", check=False)
    assert dry_json.returncode == 1
    (workspace / "api" / "stray.txt").unlink()
    assert world.cli("close", "--run-id", run_id, "--dry-run").returncode == 0
    assert world.json("status", "--run-id", run_id, "--no-diffs")["status"] == "completed"
    world.cli("cleanup", "--run-id", run_id)


def test_a_failed_close_leaves_the_run_completed_and_close_runs_again(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": finished_then_hold(content="CACHE = {'agent': 1}\n")})
    world.serve()
    run_id = bootstrap_completed(world)
    # The operator lands a conflicting change on main meanwhile.
    (world.root / "repos" / "api" / "cache.py").write_text("CACHE = {'operator': 2}\n")
    world.git("api", "add", "cache.py")
    world.git("api", "commit", "-q", "-m", "operator: cache")
    failed = world.cli("close", "--run-id", run_id, check=False)
    assert failed.returncode == 1
    assert "conflicts in api (cache.py)" in failed.stderr
    assert "Traceback" not in failed.stderr
    status = world.json("status", "--run-id", run_id, "--no-diffs")
    assert status["status"] == "completed"  # as before the close, not "closing"
    assert any(e.message.startswith("close failed:") for e in world.events(run_id))
    # The operator resolves it on main; close runs again and closes.
    world.git("api", "revert", "--no-edit", "HEAD")
    closed = world.json("close", "--run-id", run_id)
    assert closed["status"] == "closed"


def test_close_stops_the_agents_and_keep_agents_keeps_them(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": finished_then_hold()})
    world.serve()
    run_id = bootstrap_completed(world)
    session = world.json("status", "--run-id", run_id, "--no-diffs")["agents"][0]["session"]
    assert session in world.sessions()
    dry = world.json("close", "--run-id", run_id, "--dry-run")
    assert "stop the run's agents" in dry["actions"]
    closed = world.json("close", "--run-id", run_id)
    assert closed["status"] == "closed"
    assert closed["agents_stopped"] == 1
    assert session not in world.sessions()
    agent = world.json("status", "--run-id", run_id, "--no-diffs")["agents"][0]
    assert agent["status"] == "stopped"
    assert agent["health"] != "healthy"


def test_close_keep_agents_leaves_them_running(make_world: Callable[..., World]) -> None:
    world = make_world({"a": finished_then_hold()})
    world.serve()
    run_id = bootstrap_completed(world)
    session = world.json("status", "--run-id", run_id, "--no-diffs")["agents"][0]["session"]
    closed = world.json("close", "--run-id", run_id, "--keep-agents")
    assert closed["status"] == "closed"
    assert closed["agents_stopped"] == 0
    assert session in world.sessions()
    world.tmux("kill-session", "-t", f"={session}")
