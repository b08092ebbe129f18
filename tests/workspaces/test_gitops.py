"""Git helpers over a host, against real repositories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metawsm.hosts import CommandFailed, LocalHost
from metawsm.hosts import git as gitops
from tests.helpers.git import RepoFactory, git_out

pytestmark = pytest.mark.anyio


async def test_is_repo_only_at_the_top_of_a_work_tree_or_a_bare_repo(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api", files={"pkg/mod.py": "x = 1\n"})
    bare = factory.origin(repo)
    assert await gitops.is_repo(host, str(repo))
    assert await gitops.is_repo(host, str(bare))
    assert not await gitops.is_repo(host, str(repo / "pkg"))
    assert not await gitops.is_repo(host, str(tmp_path))
    assert not await gitops.is_repo(host, str(tmp_path / "missing"))


async def test_refs_and_branches(host: LocalHost, factory: RepoFactory) -> None:
    repo = factory.repo("api")
    head = factory.head(repo)
    assert await gitops.current_branch(host, str(repo)) == "main"
    assert await gitops.rev_parse(host, str(repo), "main") == head
    assert await gitops.rev_parse(host, str(repo), "nope") is None
    assert await gitops.rev_parse(host, str(repo), "--all") is None  # never an option
    assert await gitops.ref_exists(host, str(repo), "refs/heads/main")
    assert not await gitops.ref_exists(host, str(repo), "refs/remotes/origin/main")
    with pytest.raises(ValueError, match="full ref name"):
        await gitops.ref_exists(host, str(repo), "main")
    git_out(repo, "checkout", "--quiet", "--detach")
    assert await gitops.current_branch(host, str(repo)) is None


async def test_is_dirty_counts_untracked_modified_and_staged_but_not_ignored(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api", files={"a.txt": "a\n", ".gitignore": "build/\n"})
    assert not await gitops.is_dirty(host, str(repo))
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("ignored")
    assert not await gitops.is_dirty(host, str(repo))
    (repo / "new.txt").write_text("new")
    assert await gitops.is_dirty(host, str(repo))
    (repo / "new.txt").unlink()
    (repo / "a.txt").write_text("changed\n")
    assert await gitops.is_dirty(host, str(repo))
    git_out(repo, "add", "a.txt")
    assert await gitops.is_dirty(host, str(repo))


async def test_status_short_parses_renames_and_unusual_names(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api", files={"old name.txt": "content\n"})
    git_out(repo, "mv", "old name.txt", "new näme.txt")
    (repo / "ünïcode file.txt").write_text("u")
    entries = await gitops.status_short(host, str(repo))
    assert gitops.StatusEntry("R ", "new näme.txt", "old name.txt") in entries
    assert gitops.StatusEntry("??", "ünïcode file.txt") in entries


async def test_excluding_metawsm_in_a_worktree_uses_the_shared_exclude_file(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api")
    worktree = tmp_path / "wt"
    await gitops.worktree_add(host, str(repo), str(worktree), branch="task/x", start_point="main")
    (worktree / ".metawsm").mkdir()
    (worktree / ".metawsm" / "guidance-request.json").write_text("{}")
    assert await gitops.is_dirty(host, str(worktree))

    assert await gitops.add_exclude(host, str(worktree))
    assert not await gitops.add_exclude(host, str(worktree))  # already there: not added twice
    exclude = (repo / ".git" / "info" / "exclude").read_text()
    assert exclude.splitlines().count(".metawsm/") == 1
    assert not await gitops.is_dirty(host, str(worktree))
    assert not (worktree / ".git").is_dir()  # nothing was written into the worktree itself


async def test_worktree_add_new_and_existing_branch(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api")
    factory.origin(repo)
    a = str(tmp_path / "a")
    await gitops.worktree_add(host, str(repo), a, branch="t1", start_point="origin/main")
    assert await gitops.current_branch(host, a) == "t1"
    # Cut from a remote-tracking branch, yet no upstream: a push can never go to origin/main.
    upstream = await gitops.git(host, a, "rev-parse", "--abbrev-ref", "@{upstream}", check=False)
    assert not upstream.ok
    git_out(repo, "branch", "t2")
    await gitops.worktree_add(host, str(repo), str(tmp_path / "b"), branch="t2")
    assert await gitops.current_branch(host, str(tmp_path / "b")) == "t2"
    with pytest.raises(CommandFailed, match="already"):
        await gitops.worktree_add(host, str(repo), str(tmp_path / "c"), branch="t2")


async def test_worktree_remove_prune_list_and_branch_delete(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api")
    wt = tmp_path / "wt"
    await gitops.worktree_add(host, str(repo), str(wt), branch="t1", start_point="main")
    listed = await gitops.worktree_list(host, str(repo))
    assert [(w.path, w.branch) for w in listed] == [
        (str(repo), "refs/heads/main"),
        (str(wt), "refs/heads/t1"),
    ]
    (wt / "untracked.txt").write_text("x")
    with pytest.raises(CommandFailed):
        await gitops.worktree_remove(host, str(repo), str(wt))
    assert await gitops.worktree_remove(host, str(repo), str(wt), force=True)
    assert not wt.exists()
    assert not await gitops.worktree_remove(host, str(repo), str(wt))
    await gitops.worktree_prune(host, str(repo))
    assert await gitops.branch_delete(host, str(repo), "t1")
    assert not await gitops.branch_delete(host, str(repo), "t1")


async def test_diff_stat_counts_work_since_the_fork_point_only(
    host: LocalHost, factory: RepoFactory, tmp_path: Path
) -> None:
    repo = factory.repo("api", files={"a.txt": "1\n2\n3\n", "b.txt": "b\n"})
    wt = tmp_path / "wt"
    await gitops.worktree_add(host, str(repo), str(wt), branch="t1", start_point="main")
    factory.commit(wt, "work", {"a.txt": "1\n2\n3\n4\n5\n"})  # committed: +2
    (wt / "b.txt").write_text("B\n")  # uncommitted: +1 -1
    (wt / "new.txt").write_text("new\n")  # untracked
    factory.commit(repo, "main moves on", {"c.txt": "c\n" * 10})  # not this worktree's work
    stat = await gitops.diff_stat(host, str(wt), "main")
    assert stat == gitops.DiffStat(files=2, insertions=3, deletions=1, untracked=1)


async def test_newest_change_mtime_follows_changed_files(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api", files={"a.txt": "a\n", "b.txt": "b\n"})
    assert await gitops.newest_change_mtime(host, str(repo)) is None
    (repo / "a.txt").write_text("changed\n")
    (repo / "dir").mkdir()
    (repo / "dir" / "new.txt").write_text("new\n")
    (repo / "b.txt").unlink()  # deleted files have no time and are skipped
    os.utime(repo / "a.txt", (1_000_000, 1_000_000))
    os.utime(repo / "dir" / "new.txt", (2_000_000, 2_000_000))
    assert await gitops.newest_change_mtime(host, str(repo)) == 2_000_000


async def test_operation_in_progress_reports_a_merge_on_its_branch(
    host: LocalHost, factory: RepoFactory
) -> None:
    repo = factory.repo("api", files={"a.txt": "base\n"})
    assert await gitops.operation_in_progress(host, str(repo)) is None
    git_out(repo, "checkout", "--quiet", "-b", "other")
    factory.commit(repo, "other", {"a.txt": "other\n"})
    git_out(repo, "checkout", "--quiet", "main")
    factory.commit(repo, "main", {"a.txt": "main\n"})
    with pytest.raises(AssertionError):
        git_out(repo, "merge", "--quiet", "other")  # conflicts
    assert await gitops.operation_in_progress(host, str(repo)) == gitops.InProgress("merge", "main")
    git_out(repo, "merge", "--abort")
    git_out(repo, "checkout", "--quiet", "other")
    with pytest.raises(AssertionError):
        git_out(repo, "rebase", "main")
    assert await gitops.operation_in_progress(host, str(repo)) == gitops.InProgress(
        "rebase", "other"
    )


async def test_fetch_failure_is_not_an_error(host: LocalHost, factory: RepoFactory) -> None:
    repo = factory.repo("api")
    git_out(repo, "remote", "add", "origin", "/nonexistent/origin.git")
    assert await gitops.has_remote(host, str(repo), "origin")
    assert not await gitops.has_remote(host, str(repo), "upstream")
    assert not await gitops.fetch(host, str(repo), "origin", "main")
