"""Review material and honest exits, end to end (issue 7 item 5): real git, tmux and CLI.

What a reviewer reads before merging (``status`` commits and diffstat, signals per agent,
``merge --dry-run``), and exit codes and states that tell the truth (a failed foreground run,
a failing ``close --dry-run``, a failed close, the agents a close stops).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.supervisor.world import EXIT3, HOLD, World, wait_until

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


def test_status_shows_review_material_and_merge_dry_run_predicts_the_merge(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": finished_then_hold()})
    world.serve()
    run_id = bootstrap_completed(world)
    status = world.json("status", "--run-id", run_id)
    [workspace] = status["diffs"]
    api = next(r for r in workspace["repos"] if r["repo"] == "api")
    assert api["clean"] is True
    branch = api["branch"]
    assert branch["base"] == "main" and branch["error"] is None
    assert "T-1: cache" in [c["subject"] for c in branch["commits"]]
    assert branch["ahead"] == len(branch["commits"])
    assert {"path": "cache.py", "insertions": 1, "deletions": 0} in branch["stat"]
    agent = status["agents"][0]
    assert agent["signals"] == {"guidance_pending": 0, "complete": True, "validation": "passed"}
    text = world.cli("status", "--run-id", run_id).stdout
    assert f"      ahead of main: {branch['ahead']} commit" in text
    assert "T-1: cache\n" in text and "        cache.py | +1 -0\n" in text
    assert "signals=complete,validation:passed" in text

    dry = world.json("merge", "--run-id", run_id, "--dry-run")
    [previews] = dry["workspaces"].values()
    api_preview = next(p for p in previews if p["repo"] == "api")
    assert api_preview["status"] == "would_merge" and dry["conflicts"] is False
    assert any(line.endswith(" T-1: cache") for line in api_preview["commits"])
    # The operator lands a conflicting change on main: the dry run predicts it, exits 1.
    (world.root / "repos" / "api" / "cache.py").write_text("CACHE = None\n")
    world.git("api", "add", "cache.py")
    world.git("api", "commit", "-q", "-m", "operator: cache")
    main_before = world.git("api", "rev-parse", "main")
    predicted = world.cli("merge", "--run-id", run_id, "--dry-run", check=False)
    assert predicted.returncode == 1, predicted.stdout + predicted.stderr
    assert "repo api: CONFLICT with main in cache.py" in predicted.stdout
    assert world.git("api", "rev-parse", "main") == main_before  # nothing merged
    assert world.git("api", "status", "--porcelain") == ""
    world.cli("cleanup", "--run-id", run_id)


def test_status_without_a_selector_shows_every_active_run(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    assert world.cli("status").stdout == (
        "No active runs.\nSee finished ones with: metawsm runs --all\n"
    )
    assert world.json("status") == []
    world.serve()
    active = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    planned = world.json("run", "--ticket", "T-1", "--repos", "api", "--dry-run")["run_id"]
    views = world.json("status")
    assert [v["run_id"] for v in views] == [active]  # not the dry run
    assert views[0]["agents"][0]["name"] == "a"
    world.env["METAWSM_NO_THIN"] = "1"  # the same answer from the full CLI
    assert [v["run_id"] for v in world.json("status")] == [active]
    del world.env["METAWSM_NO_THIN"]
    text = world.cli("status").stdout
    assert text.startswith(f"Run: {active}\n") and planned not in text
    assert world.json("runs", "--all")[0]["status"] in ("planned", "running")
    world.cli("stop", "--run-id", active)


def test_cleanup_all_cleans_every_finished_run_and_prunes_merged_branches(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": finished_then_hold(), "h": HOLD})
    world.serve()
    # A closed run (its branch merged into main) ...
    closed = world.json(
        "bootstrap", "--ticket", "T-2", "--repos", "api", "--agent", "a", *BRIEF, "--detach"
    )["run_id"]
    wait_until(
        lambda: world.json("status", "--run-id", closed, "--no-diffs")["status"] == "completed",
        timeout=60,
        what="completion",
    )
    world.cli("close", "--run-id", closed)
    # ... a stopped one (its branch never merged) and an active one.
    stopped = world.json("run", "--ticket", "T-1", "--repos", "api", "--agent", "h", "--detach")[
        "run_id"
    ]
    world.cli("stop", "--run-id", stopped)
    active = world.json("run", "--ticket", "T-1", "--repos", "api", "--agent", "h", "--detach")[
        "run_id"
    ]
    branch_of = {
        run_id: f"task/{next(iter(world.json('status', '--run-id', run_id)['diffs']))['workspace']}"
        for run_id in (closed, stopped, active)
    }
    branches_before = world.git("api", "branch", "--list", "task/*")
    assert all(b in branches_before for b in branch_of.values())

    dry = world.cli("cleanup", "--all", "--prune-branches", "--dry-run")
    assert f"{closed}: delete branch {branch_of[closed]} in api" in dry.stdout
    assert f"{stopped}: kill tmux sessions" in dry.stdout and active not in dry.stdout
    assert world.git("api", "branch", "--list", "task/*") == branches_before

    both = world.cli("cleanup", "--all", "--run-id", active, check=False)
    assert both.returncode == 2 and "excludes --run-id and --ticket" in both.stderr

    result = world.json("cleanup", "--all", "--prune-branches")
    by_run = {r["run_id"]: r for r in result["runs"]}
    assert set(by_run) == {closed, stopped}
    assert by_run[closed]["branches_deleted"] == [f"api:{branch_of[closed]}"]
    assert by_run[stopped]["branches_deleted"] == []
    assert by_run[stopped]["branches_kept"] == [
        {"repo": "api", "branch": branch_of[stopped], "reason": "not merged into main"}
    ]
    branches = world.git("api", "branch", "--list", "task/*")
    assert branch_of[closed] not in branches
    assert branch_of[stopped] in branches and branch_of[active] in branches
    # The active run is untouched: its workspace and agent are still there.
    status = world.json("status", "--run-id", active)
    assert status["status"] == "running" and status["diffs"][0]["error"] is None
    assert status["agents"][0]["session"] in world.sessions()
    world.cli("stop", "--run-id", active)
