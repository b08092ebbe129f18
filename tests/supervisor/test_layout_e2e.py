"""The operator's loop in the layout the original was used in: the ticket docs live inside one
of the run's repos (``repos/api/ttmp``, ``docs.root`` pointing there), the operator works from
that repo's checkout, and the agent commits only its own work files.

metawsm's own writes (the ticket bootstrap creates, the brief, iterate's feedback, the closed
ticket) are committed on the workspace branch and reach ``main`` through the merge: the
operator's checkouts and every worktree stay clean at every step (real tmux, real git).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from tests.supervisor.world import World, wait_until

DONE = "make test passes"

CODER = {
    "steps": [
        {"do": "edit", "repo": "api", "path": "cache.py", "content": "CACHE = {}\n"},
        {"do": "commit", "repo": "api", "message": "T-2: cache", "paths": ["cache.py"]},
        {"do": "guidance", "question": "Which database should the cache use?", "timeout": 120},
        {"do": "edit", "repo": "web", "path": "page.html", "content": "<p>cached</p>\n"},
        {"do": "commit", "repo": "web", "message": "T-2: page", "paths": ["page.html"]},
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


def _assert_clean(world: World, when: str) -> None:
    """``git status --porcelain`` is empty in both operator checkouts and every worktree."""
    for repo in ("api", "web"):
        for path in world.worktrees(repo):
            out = subprocess.run(
                ["git", "-C", path, "status", "--porcelain", "--untracked-files=all"],
                text=True,
                capture_output=True,
                check=True,
            ).stdout
            assert out == "", f"{when}: {path} is dirty:\n{out}"


def _status(world: World, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = world.json("status", "--run-id", run_id, "--no-diffs")
    return data


def _commits(world: World, repo: str, rev: str) -> list[tuple[str, str, list[str]]]:
    """(author, subject, files) of every non-merge commit of ``rev``, newest first."""
    shas = _git(world, repo, "rev-list", "--no-merges", rev).split()
    result = []
    for sha in shas:
        meta = _git(world, repo, "show", "-s", "--format=%an%x00%s", sha).strip()
        author, subject = meta.split("\0")
        files = _git(world, repo, "show", "--format=", "--name-only", sha).split()
        result.append((author, subject, files))
    return result


def test_the_whole_loop_with_docs_in_a_repo_leaves_every_checkout_clean(
    make_world: Callable[..., World],
) -> None:
    world = make_world({"coder": CODER}, ticket="T-1", docs_in="api")
    operator_api_head = _git(world, "api", "rev-parse", "HEAD").strip()
    world.serve()
    _assert_clean(world, "before bootstrap")
    # T-2 does not exist: bootstrap creates it in the workspace, never in the operator's checkout.
    run_id = world.json("bootstrap", "--ticket", "T-2", "--repos", "api,web", *BRIEF, "--detach")[
        "run_id"
    ]
    wait_until(
        lambda: _status(world, run_id)["status"] == "awaiting_guidance",
        timeout=60,
        what="the guidance request",
    )
    _assert_clean(world, "awaiting guidance")
    assert _git(world, "api", "rev-parse", "HEAD").strip() == operator_api_head
    assert not list((world.root / "repos" / "api" / "ttmp").glob("**/T-2--*"))
    workspace = next((world.root / ".metawsm" / "workspaces").iterdir())
    branch = _git(world, "api", "branch", "--list", "task/*", "--format=%(refname:short)").strip()
    # One metawsm commit seeded the ticket and its brief, before the agent's first commit.
    history = _commits(world, "api", branch)
    seeded = [c for c in history if c[0] == "metawsm"]
    assert [c[1] for c in seeded] == [f"metawsm: create T-2 docs for run {run_id}"]
    assert history[0][1] == "T-2: cache" and history[1] == seeded[0]
    assert any("bootstrap-brief" in f for f in seeded[0][2])
    assert all(f.startswith("ttmp/") for f in seeded[0][2])
    assert list(workspace.glob("api/ttmp/**/T-2--*/reference/*bootstrap-brief*"))

    world.json("guide", "--run-id", run_id, "--answer", "SQLite")
    wait_until(
        lambda: _status(world, run_id)["status"] == "completed", timeout=60, what="completion"
    )
    _assert_clean(world, "completed")
    dry = world.json("close", "--run-id", run_id, "--dry-run")
    assert dry["passed"] is True, dry["gates"]
    _assert_clean(world, "after close --dry-run")
    closed = world.json("close", "--run-id", run_id)
    assert closed["status"] == "closed"
    assert closed["tickets_closed_on_branch"] == ["T-2"]
    assert closed["tickets_closed_in_place"] == []
    _assert_clean(world, "closed")

    # main of both repos holds the agent's commits; api's main the brief and the closed ticket.
    api = _commits(world, "api", "main")
    web = _commits(world, "web", "main")
    assert ("metawsm", f"metawsm: close T-2 (run {run_id})") in [(a, s) for a, s, _ in api]
    for author, subject, files in api + web:
        if subject.startswith("T-2:"):
            assert author != "metawsm" and files in (["cache.py"], ["page.html"]), subject
        elif author == "metawsm":
            assert files and all(f.startswith("ttmp/") for f in files), (subject, files)
    assert "T-2: cache" in [s for _, s, _ in api]
    assert "T-2: page" in [s for _, s, _ in web]
    tree = _git(world, "api", "ls-tree", "-r", "--name-only", "main").split()
    index = next(p for p in tree if p.endswith("/index.md") and "/T-2--" in p)
    assert any("/T-2--" in p and "bootstrap-brief" in p for p in tree)
    assert "Status: complete" in _git(world, "api", "show", f"main:{index}")
    assert f"Closed by metawsm run {run_id}" in _git(
        world, "api", "show", f"main:{index.rsplit('/', 1)[0]}/changelog.md"
    )
    # The operator's checkout received all of it through the merge (a fast-forward).
    assert "Status: complete" in (world.root / "repos" / "api" / index).read_text()


def test_iterate_commits_its_feedback_doc_before_the_agents_restart(
    make_world: Callable[..., World],
) -> None:
    agent = {"steps": [{"do": "complete", "summary": "v1", "when_generation": 1}, {"do": "hold"}]}
    world = make_world({"a": agent}, ticket="T-1", docs_in="api")
    world.serve()
    run_id = world.json("bootstrap", "--ticket", "T-1", "--repos", "api", *BRIEF, "--detach")[
        "run_id"
    ]
    wait_until(
        lambda: _status(world, run_id)["status"] == "completed", timeout=60, what="completion"
    )
    _assert_clean(world, "completed")
    branch = _git(world, "api", "branch", "--list", "task/*", "--format=%(refname:short)").strip()
    # T-1 exists on main: seeding commits only what is new there (the brief).
    seeded = [c for c in _commits(world, "api", branch) if c[0] == "metawsm"]
    assert [c[1] for c in seeded] == [f"metawsm: seed T-1 docs for run {run_id}"]
    assert len(seeded[0][2]) == 1 and "bootstrap-brief" in seeded[0][2][0]

    result = world.json("iterate", "--run-id", run_id, "--feedback", "add tests")
    assert result["agents_restarted"] == 1
    _assert_clean(world, "after iterate")
    newest = _commits(world, "api", branch)[0]
    assert newest[:2] == ("metawsm", "metawsm: operator feedback on T-1")
    assert newest[2] and newest[2][0].endswith("reference/99-operator-feedback.md")
    feedback = _git(world, "api", "show", f"{branch}:{newest[2][0]}")
    assert "add tests" in feedback
    world.cli("stop", "--run-id", run_id)
    _assert_clean(world, "stopped")
