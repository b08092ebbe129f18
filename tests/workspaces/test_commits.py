"""metawsm's own commits (``commit_paths``) against real repositories and a real concurrent
git committer: only the named paths, nothing of an agent's, no lock or temp index left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from metawsm.hosts import LocalHost
from metawsm.workspaces.commits import CommitError, CommitLocked, commit_paths
from tests.helpers.git import GIT_TEST_ENV, RepoFactory, git_out

pytestmark = pytest.mark.anyio


def _git_dir(repo: Path) -> Path:
    return Path(git_out(repo, "rev-parse", "--absolute-git-dir"))


def _leftovers(repo: Path) -> list[str]:
    """Lock and temporary index files in the worktree's git dir."""
    return sorted(
        p.name for p in _git_dir(repo).iterdir() if p.name.endswith(".lock") or "metawsm" in p.name
    )


def _changed_in(repo: Path, sha: str) -> list[str]:
    out = git_out(repo, "show", "--format=", "--name-only", "--no-renames", sha)
    return sorted(line for line in out.splitlines() if line)


async def test_commits_added_changed_and_removed_paths_with_metawsm_identity(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api", files={"docs/a.md": "a\n", "docs/old.md": "old\n"})
    (repo / "docs" / "a.md").write_text("a2\n")
    (repo / "docs" / "old.md").unlink()
    (repo / "docs" / "new").mkdir()
    (repo / "docs" / "new" / "b.md").write_text("b\n")
    sha = await commit_paths(
        host, str(repo), ["docs/a.md", str(repo / "docs/old.md"), "docs/new"], "metawsm: docs"
    )
    assert sha is not None and sha == factory.head(repo)
    assert _changed_in(repo, sha) == ["docs/a.md", "docs/new/b.md", "docs/old.md"]
    assert git_out(repo, "log", "-1", "--format=%an <%ae>|%cn|%s") == (
        "metawsm <metawsm@localhost>|metawsm|metawsm: docs"
    )
    assert git_out(repo, "status", "--porcelain") == ""
    assert _leftovers(repo) == []
    # Nothing left to commit, and a path that is neither in the tree nor in HEAD: no commit.
    assert await commit_paths(host, str(repo), ["docs/a.md", "docs/never.md"], "again") is None
    assert factory.head(repo) == sha
    # A path the repository ignores is skipped; the others are committed.
    (repo / ".git" / "info" / "exclude").write_text("build/\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.txt").write_text("ignored\n")
    assert await commit_paths(host, str(repo), ["build"], "ignored only") is None
    (repo / "docs" / "c.md").write_text("c\n")
    last = await commit_paths(host, str(repo), ["build/out.txt", "docs/c.md"], "mixed")
    assert last is not None and _changed_in(repo, last) == ["docs/c.md"]
    assert _leftovers(repo) == []


async def test_an_agents_staged_unstaged_and_untracked_files_stay_exactly_as_they_were(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api", files={"src/app.py": "v0\n", "src/lib.py": "l0\n"})
    (repo / "src" / "app.py").write_text("v1 staged\n")
    git_out(repo, "add", "src/app.py")
    (repo / "src" / "app.py").write_text("v2 unstaged on top\n")
    (repo / "src" / "lib.py").write_text("l1 unstaged\n")
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "new-staged.txt").write_text("staged new file\n")
    git_out(repo, "add", "new-staged.txt")
    before = {
        "staged": git_out(repo, "diff", "--cached", "--name-status"),
        "index": git_out(repo, "ls-files", "--stage"),
        "unstaged": git_out(repo, "diff"),
        "status": git_out(repo, "status", "--porcelain"),
    }
    (repo / "ttmp").mkdir()
    (repo / "ttmp" / "brief.md").write_text("# Brief\n")
    sha = await commit_paths(host, str(repo), ["ttmp"], "metawsm: brief")
    assert sha is not None
    assert _changed_in(repo, sha) == ["ttmp/brief.md"]
    assert git_out(repo, "diff", "--cached", "--name-status") == before["staged"]
    assert git_out(repo, "diff") == before["unstaged"]
    index_now = git_out(repo, "ls-files", "--stage")
    assert [ln for ln in index_now.splitlines() if "ttmp/" not in ln] == before[
        "index"
    ].splitlines()
    assert git_out(repo, "status", "--porcelain") == before["status"]
    assert _leftovers(repo) == []


async def test_it_commits_in_a_linked_worktree_and_on_a_branch_with_no_commit(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api")
    worktree = tmp_path / "ws" / "api"
    git_out(repo, "worktree", "add", "--quiet", "-b", "task/x", str(worktree), "main")
    (worktree / "f.md").write_text("f\n")
    sha = await commit_paths(host, str(worktree), ["f.md"], "in the worktree")
    assert sha == factory.head(repo, "task/x") != factory.head(repo, "main")
    assert git_out(worktree, "status", "--porcelain") == ""
    assert git_out(repo, "status", "--porcelain") == ""
    assert _leftovers(worktree) == []

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git_out(fresh, "-c", "init.defaultBranch=main", "init", "--quiet")
    (fresh / "first.md").write_text("1\n")
    (fresh / "other.md").write_text("not mine\n")
    first = await commit_paths(host, str(fresh), ["first.md"], "first")
    assert first is not None and git_out(fresh, "rev-parse", "main") == first
    assert _changed_in(fresh, first) == ["first.md"]
    assert git_out(fresh, "status", "--porcelain") == "?? other.md"


async def test_bad_requests_are_refused_before_anything_is_touched(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api")
    (repo / "x.md").write_text("x\n")
    for bad in ("../outside.md", str(tmp_path / "outside.md"), ".", ".git/config", ""):
        with pytest.raises(CommitError):
            await commit_paths(host, str(repo), [bad], "bad")
    with pytest.raises(CommitError, match="message"):
        await commit_paths(host, str(repo), ["x.md"], "  ")
    git_out(repo, "checkout", "--quiet", "--detach")
    with pytest.raises(CommitError, match="detached"):
        await commit_paths(host, str(repo), ["x.md"], "detached")
    assert git_out(repo, "status", "--porcelain") == "?? x.md"
    assert _leftovers(repo) == []


async def test_it_waits_for_a_held_index_lock_and_never_removes_anothers(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api")
    lock = _git_dir(repo) / "index.lock"
    lock.write_text("held by an agent's git\n")
    (repo / "a.md").write_text("a\n")
    with pytest.raises(CommitLocked, match=r"index\.lock"):
        await commit_paths(host, str(repo), ["a.md"], "locked out", timeout=0.5)
    assert lock.read_text() == "held by an agent's git\n"
    assert git_out(repo, "status", "--porcelain") == "?? a.md"

    async def release_later() -> None:
        await anyio.sleep(0.3)
        lock.unlink()

    async with anyio.create_task_group() as tg:
        tg.start_soon(release_later)
        sha = await commit_paths(host, str(repo), ["a.md"], "after the lock", timeout=10)
    assert sha == factory.head(repo)
    assert _leftovers(repo) == []


async def test_a_cancelled_commit_leaves_the_worktree_committed_or_as_it_was(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api", files={"agent.txt": "a0\n"})
    (repo / "agent.txt").write_text("a1 staged\n")
    git_out(repo, "add", "agent.txt")
    staged = git_out(repo, "ls-files", "--stage", "agent.txt")
    landed = 0
    for step in range(40):
        (repo / "mine.md").write_text(f"version {step}\n")
        head = factory.head(repo)
        with anyio.move_on_after(step * 0.004):
            await commit_paths(host, str(repo), ["mine.md"], f"step {step}")
        assert _leftovers(repo) == []
        assert git_out(repo, "ls-files", "--stage", "agent.txt") == staged
        if factory.head(repo) != head:
            landed += 1
            assert _changed_in(repo, factory.head(repo)) == ["mine.md"]
            assert git_out(repo, "status", "--porcelain", "--", "mine.md") == ""
        else:
            assert git_out(repo, "status", "--porcelain", "--", "mine.md") in (
                "?? mine.md",
                "M mine.md",
                " M mine.md",
            )
    assert 0 < landed < 40  # some were cut short, some finished


_COMMIT_LOOP = r"""
import pathlib, subprocess, sys, time
repo, stop = sys.argv[1], pathlib.Path(sys.argv[2])
n = done = 0
def git(*args):
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)
while not stop.exists() or n == 0:
    name = f"agent/{n}.txt"
    path = pathlib.Path(repo, name)
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"{n}\n")
    while git("add", name).returncode != 0:   # index.lock held: the way an agent retries
        time.sleep(0.005)
    while git("commit", "--quiet", "-m", f"agent {n}").returncode != 0:
        time.sleep(0.005)
    n += 1
print(n)
"""


async def test_commits_interleave_with_a_real_git_process_committing_in_a_loop(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api")
    stop = tmp_path / "stop"
    env = {**os.environ, **GIT_TEST_ENV}
    loop = subprocess.Popen(  # noqa: ASYNC220 - a real git committer running beside the test
        [sys.executable, "-c", _COMMIT_LOOP, str(repo), str(stop)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    mine: list[str] = []
    try:
        for i in range(10):
            (repo / "ttmp").mkdir(exist_ok=True)
            (repo / "ttmp" / f"doc-{i}.md").write_text(f"doc {i}\n")
            sha = await commit_paths(host, str(repo), [f"ttmp/doc-{i}.md"], f"metawsm {i}")
            assert sha is not None
            mine.append(sha)
    finally:
        stop.touch()
        out, _ = loop.communicate(timeout=60)
    agent_commits = int(out.strip())
    assert agent_commits > 0
    head = factory.head(repo)
    for sha in mine:  # every metawsm commit is in the history, touching only its own doc
        git_out(repo, "merge-base", "--is-ancestor", sha, head)
        assert _changed_in(repo, sha) == [f"ttmp/doc-{mine.index(sha)}.md"]
    log = git_out(repo, "log", "--format=%an|%s", head).splitlines()
    agents = [line for line in log if line.startswith("Metawsm Test|agent ")]
    assert len(agents) == agent_commits  # no agent commit lost
    agent_shas = git_out(repo, "log", "--format=%H", "--author=Metawsm Test", head).splitlines()
    for sha in agent_shas[:-1]:  # the initial commit is the factory's
        changed = _changed_in(repo, sha)
        assert changed and all(p.startswith("agent/") for p in changed), changed
    assert git_out(repo, "status", "--porcelain") == ""
    assert _leftovers(repo) == []
