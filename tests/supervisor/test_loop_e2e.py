"""The operator's loop end to end: bootstrap, guidance, completion, validation, close."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

from tests.supervisor.world import HOLD, World, wait_until

DONE = "make test passes"

CODER = {
    "steps": [
        {"do": "edit", "repo": "api", "path": "cache.py", "content": "CACHE = {}\n"},
        {"do": "guidance", "question": "Which database should the cache use?", "timeout": 120},
        {"do": "edit", "repo": "web", "path": "page.html", "content": "<p>cached</p>\n"},
        {"do": "commit", "repo": "api", "message": "T-2: cache"},
        {"do": "commit", "repo": "web", "message": "T-2: page"},
        {"do": "complete", "summary": "cache added"},
        {"do": "validate", "status": "passed", "done_criteria": DONE},
        {"do": "exit", "code": 0},
    ]
}

BRIEF = [
    "--goal",
    "Add a cache.",
    "--scope",
    "api and web",
    "--done-criteria",
    DONE,
    "--constraints",
    "no new deps",
    "--merge-intent",
    "default",
]


def _git(world: World, repo: str, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=world.root / "repos" / repo, text=True, capture_output=True, check=True
    ).stdout


def test_bootstrap_guide_complete_validate_close(make_world: Callable[..., World]) -> None:
    world = make_world({"coder": CODER}, ticket="T-1")
    world.serve()
    # T-2 does not exist yet: bootstrap creates it, with the brief as a reference doc.
    out = world.json("bootstrap", "--ticket", "T-2", "--repos", "api,web", *BRIEF, "--detach")
    run_id = out["run_id"]
    status = wait_until(
        lambda: (
            (s := world.json("status", "--run-id", run_id, "--no-diffs"))["status"]
            == "awaiting_guidance"
            and s
        ),
        what="the guidance request",
    )
    assert status["guidance"][0]["question"] == "Which database should the cache use?"
    answered = world.json("guide", "--run-id", run_id, "--answer", "SQLite")
    assert answered["agent"] == "coder"
    # Completion comes from the agent's signals; its exit 0 is seen a tick later (under load
    # the status could read completed while the exit was not observed yet).
    wait_until(
        lambda: (
            (s := world.json("status", "--run-id", run_id, "--no-diffs"))["status"] == "completed"
            and s["agents"][0]["exit_status"] == 0
            and s
        ),
        timeout=60,
        what="completion and the agent's exit 0",
    )
    # The brief reached the workspace copy of the ticket (it was written before seeding).
    workspaces = list((world.root / ".metawsm" / "workspaces").iterdir())
    briefs = list(workspaces[0].glob("api/ttmp/**/reference/*bootstrap-brief*"))
    assert briefs, "the brief doc is not in the workspace"
    # close --dry-run reports every gate and changes nothing.
    dry = world.json("close", "--run-id", run_id, "--dry-run")
    assert dry["passed"] is True
    assert world.json("status", "--run-id", run_id, "--no-diffs")["status"] == "completed"
    closed = world.json("close", "--run-id", run_id)
    assert closed["status"] == "closed"
    assert "T-2: cache" in _git(world, "api", "log", "--oneline", "main")
    assert "T-2: page" in _git(world, "web", "log", "--oneline", "main")
    index = next((world.root / "ttmp").glob("**/T-2--*/index.md")).read_text()
    assert "Status: complete" in index


def test_close_is_blocked_by_a_dirty_repo_and_can_run_again(
    make_world: Callable[..., World],
) -> None:
    agent = {
        "steps": [
            {"do": "edit", "repo": "api", "path": "x.py", "content": "x = 1\n"},
            {"do": "complete", "summary": "done (but forgot to commit)"},
            {"do": "validate", "status": "passed", "done_criteria": DONE},
            {"do": "exit", "code": 0},
        ]
    }
    world = make_world({"a": agent})
    world.serve()
    run_id = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    wait_until(
        lambda: world.json("status", "--run-id", run_id, "--no-diffs")["status"] == "completed",
        timeout=60,
        what="completion",
    )
    blocked = world.cli("close", "--run-id", run_id, check=False)
    assert blocked.returncode == 1
    assert "has uncommitted changes; close blocked" in blocked.stderr
    assert world.json("status", "--run-id", run_id, "--no-diffs")["status"] == "completed"


def test_an_old_generations_completion_does_not_complete_an_iteration(
    make_world: Callable[..., World],
) -> None:
    agent = {"steps": [{"do": "complete", "summary": "v1", "when_generation": 1}, {"do": "hold"}]}
    world = make_world({"a": agent})
    world.serve()
    run_id = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    wait_until(
        lambda: world.json("status", "--run-id", run_id, "--no-diffs")["status"] == "completed",
        timeout=60,
        what="completion",
    )
    result = world.json("iterate", "--run-id", run_id, "--feedback", "add tests")
    assert result["agents_restarted"] == 1
    status = world.json("status", "--run-id", run_id, "--no-diffs")
    assert status["status"] == "running"
    assert status["agents"][0]["generation"] == 2
    feedback = (
        next((world.root / ".metawsm" / "workspaces").iterdir())
        / ".metawsm"
        / "operator-feedback.md"
    ).read_text()
    assert "add tests" in feedback
    world.cli("stop", "--run-id", run_id)


def test_signal_helper_writes_atomically_with_the_agents_stamp(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"a": HOLD})
    signal_dir = world.root / "sig"
    env = {
        **world.env,
        "METAWSM_RUN_ID": "run-x",
        "METAWSM_AGENT": "a",
        "METAWSM_GENERATION": "3",
        "METAWSM_SIGNAL_DIR": str(signal_dir),
    }
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "metawsm", "signal", "complete", "--summary", "all done"],
        cwd=world.root,
        env=env,
        text=True,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads((signal_dir / "implementation-complete.json").read_text())
    assert data == {"run_id": "run-x", "agent": "a", "generation": 3, "summary": "all done"}
    missing = subprocess.run(
        [sys.executable, "-m", "metawsm", "signal", "complete"],
        cwd=world.root,
        env=world.env,
        text=True,
        capture_output=True,
    )
    assert missing.returncode == 2
    assert "METAWSM_RUN_ID" in missing.stderr and "Traceback" not in missing.stderr
