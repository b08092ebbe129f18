"""The docs-sync consumer against an agent that commits in a loop while threads are answered:
one reference doc per answered or closed thread, committed on the workspace branch by
metawsm (never the agent's files, never a lock left), on main after close, nothing dirty."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.supervisor.world import World, wait_until

BUSY = {
    "steps": [
        step
        for n in range(30)
        for step in (
            {"do": "edit", "path": f"work/{n}.txt", "content": f"work {n}\n"},
            {"do": "commit", "message": f"agent work {n}"},
            {"do": "sleep", "seconds": 0.2},
        )
    ]
    + [{"do": "exit", "code": 0}]
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], text=True, capture_output=True, check=True
    ).stdout


def _synced(world: World) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)
    try:
        return [(str(r[0]), str(r[1])) for r in conn.execute(
            "SELECT thread_id, path FROM forum_synced_docs ORDER BY thread_id")]  # fmt: skip
    finally:
        conn.close()


@pytest.mark.xfail(
    reason="known bug, open: under load a docs-sync commit_paths beside the agent's own"
    " `git add` can take the agent's staged file, so the agent's next commit finds nothing"
    " to commit and exits 1 (see the closing note)",
    strict=False,
)
def test_answered_threads_reach_main_as_ticket_docs_with_no_dirt(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"busy": BUSY})
    world.serve()
    run_id = world.json("run", "--ticket", "T-1", "--repos", "api", "--detach")["run_id"]
    wait_until(lambda: world.status()["status"] == "running", what="the run")
    ids = []
    for n in range(3):
        thread = world.json(
            "forum", "ask", "--run-id", run_id, "--title", f"Question {n}", "--body", f"q{n}?",
            "--actor-name", "busy",
        )  # fmt: skip
        ids.append(thread["thread_id"])
    world.cli("forum", "answer", "--thread-id", ids[0], "--body", "answer zero")
    world.cli("forum", "answer", "--thread-id", ids[1], "--body", "answer one")
    world.cli("forum", "close", "--thread-id", ids[2])
    wait_until(lambda: len(_synced(world)) == 3, timeout=60, what="three synced docs")
    # A later post on a synced thread rewrites its doc.
    world.cli("forum", "answer", "--thread-id", ids[0], "--body", "answer zero, revised")
    wait_until(lambda: world.status()["status"] == "completed", timeout=120, what="completion")
    paths = dict(_synced(world))
    doc = Path(paths[ids[0]])
    wait_until(lambda: "answer zero, revised" in doc.read_text(), what="the rewritten doc")
    repo = doc.parents[0]
    while not (repo / ".git").exists():
        repo = repo.parent
    # The workspace is clean: metawsm committed its docs, the agent its work, no lock left.
    assert _git(repo, "status", "--porcelain") == ""
    lock = Path(_git(repo, "rev-parse", "--git-path", "index.lock").strip())
    assert not (lock if lock.is_absolute() else repo / lock).exists()
    log = _git(repo, "log", "--format=%an|%s").splitlines()
    assert sum(1 for line in log if line.endswith("|agent work 29")) == 1  # the agent finished
    ours = _git(repo, "log", "--author=metawsm", "--format=%H", "--grep=^forum:").split()
    assert ours, log  # (an agent's `git add -A` may take a doc written a moment before)
    for sha in ours:  # metawsm's commits hold only its forum docs, never the agent's files
        files = _git(repo, "show", "--name-only", "--format=", sha).split()
        assert files and all("/reference/forum-" in f and f.endswith(".md") for f in files)
    text = doc.read_text()
    assert "Forum: Question 0" in text.split("---")[1]  # the front matter's title
    assert "DocType: reference" in text and "## Answer" in text and "- State: answered" in text
    assert "operator" in text and "q0?" in text
    # Close merges the workspace branch: the record is on main, and nothing is dirty.
    world.cli("close", "--run-id", run_id)
    main_repo = world.root / "repos" / "api"
    listed = _git(main_repo, "ls-tree", "-r", "--name-only", "main")
    for tid in ids:
        assert f"reference/forum-{tid}.md" in listed
    assert _git(main_repo, "status", "--porcelain") == ""
    shown = _git(main_repo, "show", f"main:{next(n for n in listed.split() if ids[0] in n)}")
    assert "answer zero, revised" in shown
