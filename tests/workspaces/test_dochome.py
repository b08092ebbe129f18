"""The ticket's docs written in a workspace's doc-home repo and committed there by metawsm
(``metawsm.loop.dochome``), against real repositories: the operator's checkout is never
written, a seeding or a close run twice commits nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metawsm.docs.native import NativeDocsProvider
from metawsm.hosts import LocalHost
from metawsm.loop.bootstrap import Brief
from metawsm.loop.dochome import close_workspace_ticket, docs_repo_of_run, seed_workspace_docs
from metawsm.runs.spec import RunSpec
from metawsm.supervisor.environment import Environment
from tests.helpers.git import RepoFactory, git_out

pytestmark = pytest.mark.anyio

BRIEF = Brief("T-2", "Add a cache.", "api", "tests pass", "none", "default", (("Goal?", "a"),))


def _env(root: Path, docs_root: str) -> Environment:
    state = root / ".metawsm"
    state.mkdir(exist_ok=True)
    policy = {
        "workspace": {"repos": {"api": "src/api", "web": "src/web"}},
        "docs": {"root": docs_root},
    }
    (state / "policy.json").write_text(json.dumps(policy))
    return Environment.load(root=root)


def _commits_by_metawsm(repo: Path, rev: str) -> list[str]:
    lines = git_out(repo, "log", "--format=%an|%s", rev).splitlines()
    return [line.split("|", 1)[1] for line in lines if line.startswith("metawsm|")]


def _read(*parts: str) -> str:
    return Path(*parts).read_text()


async def test_the_docs_root_lies_in_a_repo_of_the_run_by_path(
    factory: RepoFactory, tmp_path: Path
) -> None:
    factory.repo("api")
    factory.repo("web")
    assert docs_repo_of_run(_env(tmp_path, "src/api/ttmp"), ["web", "api"]) == "api"
    assert docs_repo_of_run(_env(tmp_path, "src/api"), ["api"]) == "api"
    assert docs_repo_of_run(_env(tmp_path, "src/api/ttmp"), ["web"]) is None
    assert docs_repo_of_run(_env(tmp_path, "ttmp"), ["api", "web"]) is None
    assert docs_repo_of_run(_env(tmp_path, "src/api-docs"), ["api"]) is None  # a prefix only


async def test_a_bootstrap_ticket_is_created_and_committed_in_the_workspace_once(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    clone = factory.repo("api")
    env = _env(tmp_path, "src/api/ttmp")
    worktree = tmp_path / "ws" / "api"
    git_out(clone, "worktree", "add", "--quiet", "-b", "task/ws", str(worktree), "main")
    spec = RunSpec(run_id="run-1", tickets=["T-2"], repos=["api"], doc_home_repo="api")
    seeded = await seed_workspace_docs(env, spec, "T-2", str(worktree), BRIEF)
    assert seeded.created and seeded.commit == factory.head(worktree)
    assert _commits_by_metawsm(worktree, "HEAD") == ["metawsm: create T-2 docs for run run-1"]
    files = git_out(worktree, "show", "--format=", "--name-only", "HEAD").splitlines()
    assert any(f.endswith("/index.md") for f in files)
    assert any("bootstrap-brief-run-1" in f for f in files)
    assert git_out(worktree, "status", "--porcelain") == ""
    # The operator's checkout (docs.root lives there) was never written.
    assert git_out(clone, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (clone / "ttmp").exists()
    # Seeding again (a resumed step) finds the ticket and its brief: nothing new to commit.
    again = await seed_workspace_docs(env, spec, "T-2", str(worktree), BRIEF)
    assert not again.created and again.commit is None
    assert again.revision == seeded.revision


async def test_a_ticket_closed_on_the_branch_is_not_closed_twice(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    clone = factory.repo("api")
    env = _env(tmp_path, "src/api/ttmp")
    await NativeDocsProvider(host, str(clone / "ttmp")).create_ticket("T-1", "First")
    git_out(clone, "add", "-A")
    git_out(clone, "commit", "--quiet", "-m", "T-1 docs")
    worktree = tmp_path / "ws" / "api"
    git_out(clone, "worktree", "add", "--quiet", "-b", "task/ws", str(worktree), "main")
    spec = RunSpec(run_id="run-1", tickets=["T-1"], repos=["api"], doc_home_repo="api")
    seeded = await seed_workspace_docs(env, spec, "T-1", str(worktree), None)
    assert seeded.commit is None  # the ticket on main, copied unchanged: nothing to commit
    first = await close_workspace_ticket(env, "T-1", str(worktree), "done", run_id="run-1")
    assert first is not None
    ticket, commit = first
    assert ticket.status == "complete" and commit == factory.head(worktree)
    assert _commits_by_metawsm(worktree, "HEAD") == ["metawsm: close T-1 (run run-1)"]
    changelog = _read(ticket.path, "changelog.md")
    assert changelog.count("done") == 1
    second = await close_workspace_ticket(env, "T-1", str(worktree), "done", run_id="run-1")
    assert second is not None and second[1] is None
    assert _read(ticket.path, "changelog.md") == changelog
    assert git_out(worktree, "status", "--porcelain") == ""
    assert git_out(clone, "status", "--porcelain") == ""
    assert "Status: active" in _read(str(clone), "ttmp", ticket.rel_path, "index.md")
    empty = tmp_path / "ws2"
    empty.mkdir()
    git_out(clone, "worktree", "add", "--quiet", "-b", "task/ws2", str(empty / "api"), "HEAD~1")
    assert await close_workspace_ticket(env, "T-1", str(empty / "api"), "x", run_id="r") is None
