"""Faults, end to end: bad input, missing pieces and a tmux that dies or cannot be reached.

Every case runs the real CLI (and, where it needs one, a real `metawsm serve`) on real git
clones and a private tmux server. Each checks the operator sees one clear `error:` line (plus a
hint) and that nothing half-made is left behind unrecorded.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from metawsm.control.client import ControlClient
from metawsm.errors import UsageError
from metawsm.naming import workspace_name_for
from tests.supervisor.world import HOLD, World, wait_until

LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING|ERROR) ")


def _agents(world: World, ticket: str = "T-1") -> dict[str, dict[str, Any]]:
    status = world.json("status", "--ticket", ticket, "--no-diffs")
    return {a["name"]: a for a in status["agents"]}


def _refused(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    """One `error:` line (containing every needle) plus one `hint:` line, no traceback.
    (A foreground supervisor's log lines, which start with their date, are left aside.)"""
    lines = [line for line in proc.stderr.strip().splitlines() if not LOG_LINE.match(line)]
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert [line.split(":", 1)[0] for line in lines] == ["error", "hint"], proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, proc.stderr)


def _nothing_created(world: World) -> None:
    """No database (so no run row), no lock or log of a supervisor, no workspace, no session."""
    assert sorted(p.name for p in world.state_dir.iterdir()) == ["policy.json"]
    assert not world.workspaces_dir.exists()
    assert world.sessions() == []
    for repo in ("api", "web"):
        assert world.worktrees(repo) == [str(world.root / "repos" / repo)]


BAD_INPUT = [
    (["run", "--ticket", "../x", "--repos", "api"], 'invalid ticket name "../x"'),
    (["run", "--ticket", "T-1", "--repos", "a b"], 'invalid repo name "a b"'),
    (["run", "--ticket", "T-1", "--repos", "api", "--agent=-x"], 'invalid agent name "-x"'),
    (["run", "--ticket", "T-1", "--repos", "api", "--agent", "-x"], "--agent"),
    (["run", "--ticket", "T-1", "--repos", "api", "--run-id", "r/1"], 'invalid run id name "r/1"'),
    (["run", "--ticket", "T-1", "--repos", "api,web;rm -rf ."], "invalid repo name"),
    (["run", "--ticket", "T-1", "--repos", "nope"], "not in the policy's workspace.repos"),
    (["status", "--run-id", "x;rm"], 'invalid run id name "x;rm"'),
    (["stop", "--ticket", "$(touch pwned)"], "invalid ticket name"),
    (["resume", "--run-id", "../../etc"], "invalid run id name"),
]


def test_invalid_names_are_refused_before_anything_runs(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    for args, needle in BAD_INPUT:
        _refused(world.cli(*args, check=False), 2, needle)
    _nothing_created(world)
    assert not (world.root / "pwned").exists()


def test_invalid_names_are_refused_by_a_running_supervisor_too(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    _refused(world.cli("run", "--ticket", "../x", "--repos", "api", "--detach", check=False), 2)
    _refused(world.cli("status", "--run-id", "x;rm", check=False), 2, "invalid run id name")

    # The socket checks for itself (a client other than this CLI skips the CLI's checks).
    async def submit(request: dict[str, Any]) -> None:
        async with ControlClient(world.state_dir / "control.sock") as client:
            await client.call("run.submit", {"request": request})

    for request in (
        {"tickets": ["T-1;reboot"], "repos": ["api"]},
        {"tickets": ["T-1"], "repos": ["api"], "agents": ["--help"]},
        {"tickets": ["T-1"], "repos": ["api"], "run_id": "../r"},
    ):
        with pytest.raises(UsageError, match="invalid"):
            anyio.run(submit, request, backend="asyncio")
    assert world.json("runs", "--all") == []
    assert world.sessions() == []
    assert not world.workspaces_dir.exists()


def test_detach_without_a_supervisor_is_refused_with_a_hint(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach", check=False)
    _refused(proc, 2, "--detach needs a running supervisor")
    assert "metawsm serve" in proc.stderr.splitlines()[1]
    _nothing_created(world)


def test_a_repo_whose_clone_is_missing_fails_the_workspace_step_and_says_so(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    world.edit_policy(lambda p: p["workspace"]["repos"].update(gone="repos/gone"))
    world.serve()
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api,gone", "--detach", check=False)
    _refused(proc, 1, "step 2 workspace-create-", 'repo "gone": clone', "not found")
    status = world.status()
    assert status["status"] == "failed"
    assert [s["status"] for s in status["steps"]][:2] == ["done", "failed"]
    assert 'repo "gone"' in status["steps"][1]["error"]
    assert status["last_message"].startswith("step 2 workspace-create-")
    # The api worktree made before the failure is undone; nothing is left half-made.
    assert world.worktrees("api") == [str(world.root / "repos" / "api")]
    assert not world.workspaces_dir.exists() or list(world.workspaces_dir.iterdir()) == []
    assert world.sessions() == []


def test_a_base_branch_missing_or_mid_merge_fails_the_workspace_step(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    proc = world.cli(
        "run", "--ticket", "T-1", "--repos", "api", "--base-branch", "nope", "--detach", check=False
    )
    _refused(proc, 1, 'base branch "nope" not found for repo')
    assert world.status()["steps"][1]["status"] == "failed"

    # A clone (without origin) in the middle of a merge on its base branch.
    world.git("api", "checkout", "-q", "-b", "side")
    (world.root / "repos" / "api" / "README.md").write_text("side\n")
    world.git("api", "commit", "-q", "-am", "side")
    world.git("api", "checkout", "-q", "main")
    (world.root / "repos" / "api" / "README.md").write_text("main\n")
    world.git("api", "commit", "-q", "-am", "main")
    world.git("api", "merge", "side", check=False)
    assert (world.root / "repos" / "api" / ".git" / "MERGE_HEAD").exists()
    proc = world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach", check=False)
    _refused(proc, 1, 'base branch "main" of repo api', "middle of a merge")
    assert "abort the merge" in proc.stderr
    runs = world.json("runs", "--all")
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert world.worktrees("api") == [str(world.root / "repos" / "api")]
    assert world.git("api", "branch", "--list", "task/*") == ""
    assert not world.workspaces_dir.exists() or list(world.workspaces_dir.iterdir()) == []
    assert world.sessions() == []


def test_an_existing_workspace_folder_is_refused_and_left_untouched(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    world.serve()
    folder = world.workspaces_dir / workspace_name_for("T-1", "r-taken")
    folder.mkdir(parents=True)
    (folder / "precious.txt").write_text("not metawsm's\n")
    proc = world.cli(
        "run", "--ticket", "T-1", "--repos", "api", "--run-id", "r-taken", "--detach", check=False
    )
    _refused(proc, 1, str(folder), "already exists and is not a workspace metawsm recorded")
    assert sorted(p.name for p in folder.iterdir()) == ["precious.txt"]
    assert (folder / "precious.txt").read_text() == "not metawsm's\n"
    assert world.worktrees("api") == [str(world.root / "repos" / "api")]
    assert world.run_record("r-taken").status == "failed"
    assert world.sessions() == []


def test_a_killed_tmux_server_gets_every_agent_respawned(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD, "b": HOLD})
    world.serve()
    world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach")
    sessions = world.sessions()
    assert len(sessions) == 2
    world.tmux("kill-server")
    after = wait_until(
        lambda: (
            (a := _agents(world))
            and all(x["generation"] == 2 and x["status"] == "running" for x in a.values())
            and a
        ),
        what="both agents respawned as generation 2",
    )
    assert {a["restarts"] for a in after.values()} == {1}
    assert world.sessions() == sessions
    run_id = world.status()["run_id"]
    vanished = [e for e in world.events(run_id) if e.message == "session vanished"]
    assert len(vanished) == 2


def test_an_unreachable_tmux_is_unknown_and_never_dead(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    server = world.serve()
    world.cli("run", "--ticket", "T-1", "--repos", "api", "--detach")
    session = world.sessions()[0]
    pid = world.pane_pid(session)
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0

    # The next supervisor's tmux socket lies under a regular file: tmux cannot even connect.
    (world.root / "blocked").write_text("a file, not a folder\n")
    world.edit_policy(lambda p: p["tmux"].update(socket="blocked/tmux.sock"))
    world.serve()
    wait_until(
        lambda: _agents(world)["a"]["health"] == "unknown", what="the agent's health unknown"
    )
    time.sleep(1.0)  # five ticks of an unreachable tmux
    status = world.status()
    assert status["supervisor"] == "up"
    assert status["status"] == "running"
    agent = status["agents"][0]
    events = world.events(status["run_id"])
    assert (agent["status"], agent["health"], agent["generation"]) == ("running", "unknown", 1), (
        events,
        world.serve_log(0),
        world.serve_log(1),
    )
    text = world.cli("status", "--ticket", "T-1", "--no-diffs").stdout
    assert "unknown" in text
    assert not [e for e in events if e.to_state in ("dead", "failed")], events
    assert world.sessions() == [session]
    assert world.pane_pid(session) == pid
    assert "tmux unavailable" in world.serve_log()
    assert "Not a directory" in world.serve_log()


def test_a_foreground_run_whose_plan_fails_reports_one_error_line(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    proc = world.cli("run", "--ticket", "T-404", "--repos", "api", check=False)
    _refused(proc, 1, "step 1 verify-doc-ticket-T-404 failed: ticket T-404 not found")
    status = world.json("status", "--ticket", "T-404", "--no-diffs")
    assert (status["status"], status["supervisor"]) == ("failed", "down")
    assert world.sessions() == []
    assert not world.workspaces_dir.exists()
