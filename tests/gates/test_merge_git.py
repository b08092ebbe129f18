"""Merging a workspace with the ``git`` provider: all repos or none, never a half-merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from metawsm.hosts import LocalHost
from metawsm.hosts import git as gitops
from metawsm.workspaces import GitWorkspaceProvider, Workspace, WorkspaceNotFound
from metawsm.workspaces.base import WorkspaceProvider
from metawsm.workspaces.merge import MergeBlocked, MergeConflict, MergeError, merge_workspace
from tests.gates.conftest import commit_all
from tests.helpers.git import RepoFactory, git_out

pytestmark = pytest.mark.anyio

WS = "t-1-0260208-101500"
BRANCH = f"task/{WS}"


@pytest.fixture
def clones(factory: RepoFactory) -> dict[str, Path]:
    return {name: factory.repo(name) for name in ("app", "lib")}


@pytest.fixture
def provider(tmp_path: Path, host: LocalHost, clones: dict[str, Path]) -> GitWorkspaceProvider:
    conforming: WorkspaceProvider = GitWorkspaceProvider(
        host, str(tmp_path / "workspaces"), {n: str(p) for n, p in clones.items()}
    )
    assert isinstance(conforming, GitWorkspaceProvider)
    return conforming


@pytest.fixture
async def ws(provider: GitWorkspaceProvider) -> Workspace:
    return await provider.create(WS, ["app", "lib"], BRANCH, "main")


def work(ws: Workspace, repo: str, files: dict[str, str], message: str = "agent work") -> str:
    """Commit ``files`` in the workspace's worktree of ``repo``; the new branch tip."""
    path = Path(ws.repos[repo])
    for rel, content in files.items():
        (path / rel).write_text(content)
    commit_all(path, message)
    return RepoFactory.head(path)


def tip(repo: Path, ref: str = "main") -> str:
    return RepoFactory.head(repo, ref)


def assert_no_half_merge(path: Path | str) -> None:
    """No merge in progress and nothing changed in the work tree at ``path``."""
    assert git_out(path, "status", "--porcelain") == ""
    merge_head = Path(
        git_out(path, "rev-parse", "--path-format=absolute", "--git-path", "MERGE_HEAD")
    )
    assert not merge_head.exists()


def clone_paths(clones: dict[str, Path]) -> dict[str, str]:
    return {n: str(p) for n, p in clones.items()}


async def test_a_clean_merge_lands_the_workspace_commits_on_main(
    host: LocalHost, ws: Workspace, clones: dict[str, Path]
) -> None:
    before = tip(clones["app"])
    branch_tip = work(ws, "app", {"feature.txt": "feature\n"})
    results = await merge_workspace(host, ws, clone_paths(clones), "main")
    assert [(r.repo, r.status) for r in results] == [("app", "merged"), ("lib", "up_to_date")]
    merged = results[0]
    assert merged.commit == tip(clones["app"])
    # Always a merge commit, even though main had not moved: first parent is the old main.
    parents = git_out(clones["app"], "rev-list", "--parents", "-n", "1", "main").split()[1:]
    assert parents == [before, branch_tip]
    subject = git_out(clones["app"], "log", "-1", "--format=%s", "main")
    assert subject == f"Merge branch '{BRANCH}' into main"
    # main is checked out in the clone: its files follow, and nothing is left half-done.
    assert (clones["app"] / "feature.txt").read_text() == "feature\n"
    for path in [*map(str, clones.values()), *ws.repos.values()]:
        assert_no_half_merge(path)


async def test_merging_twice_is_a_no_op_reported_as_up_to_date(
    host: LocalHost, ws: Workspace, clones: dict[str, Path]
) -> None:
    work(ws, "app", {"feature.txt": "feature\n"})
    work(ws, "lib", {"lib.txt": "lib\n"})
    first = await merge_workspace(host, ws, clone_paths(clones), "main")
    assert [r.status for r in first] == ["merged", "merged"]
    tips = {name: tip(path) for name, path in clones.items()}
    again = await merge_workspace(host, ws, clone_paths(clones), "main")
    assert [(r.repo, r.status, r.commit) for r in again] == [
        ("app", "up_to_date", None),
        ("lib", "up_to_date", None),
    ]
    assert {name: tip(path) for name, path in clones.items()} == tips


async def test_base_not_checked_out_in_the_clone_still_merges(
    host: LocalHost, factory: RepoFactory, ws: Workspace, clones: dict[str, Path]
) -> None:
    app = clones["app"]
    upstream = factory.commit(app, "upstream work", {"upstream.txt": "up\n"})
    git_out(app, "switch", "--quiet", "-c", "dev")
    (app / "scratch.txt").write_text("the operator's own work in progress\n")
    branch_tip = work(ws, "app", {"feature.txt": "feature\n"})
    [app_result, _] = await merge_workspace(host, ws, clone_paths(clones), "main")
    assert app_result.status == "merged"
    assert git_out(app, "rev-list", "--parents", "-n", "1", "main").split()[1:] == [
        upstream,
        branch_tip,
    ]
    assert git_out(app, "show", "main:feature.txt") == "feature"
    assert git_out(app, "show", "main:upstream.txt") == "up"
    # The clone's checkout (dev, with untracked work) was not touched.
    assert git_out(app, "symbolic-ref", "--short", "HEAD") == "dev"
    assert not (app / "feature.txt").exists()
    assert git_out(app, "status", "--porcelain") == "?? scratch.txt"


async def test_a_dirty_worktree_is_refused_and_nothing_is_merged(
    host: LocalHost, ws: Workspace, clones: dict[str, Path]
) -> None:
    work(ws, "app", {"feature.txt": "feature\n"})
    (Path(ws.repos["lib"]) / "wip.txt").write_text("uncommitted\n")
    before = {name: tip(path) for name, path in clones.items()}
    with pytest.raises(MergeBlocked) as caught:
        await merge_workspace(host, ws, clone_paths(clones), "main")
    assert caught.value.message == f"workspace {WS} repo lib has uncommitted changes; merge blocked"
    assert {name: tip(path) for name, path in clones.items()} == before


async def test_signal_files_in_a_worktree_do_not_block_a_merge(
    host: LocalHost, ws: Workspace, clones: dict[str, Path]
) -> None:
    work(ws, "app", {"feature.txt": "feature\n"})
    signals = Path(ws.repos["app"]) / ".metawsm"
    signals.mkdir()
    (signals / "validation-result.json").write_text('{"status": "passed"}')
    results = await merge_workspace(host, ws, clone_paths(clones), "main")
    assert results[0].status == "merged"


async def test_a_dirty_checkout_of_main_in_the_clone_is_refused(
    host: LocalHost, ws: Workspace, clones: dict[str, Path]
) -> None:
    work(ws, "app", {"feature.txt": "feature\n"})
    (clones["app"] / "notes.txt").write_text("operator notes\n")
    before = tip(clones["app"])
    with pytest.raises(MergeBlocked) as caught:
        await merge_workspace(host, ws, clone_paths(clones), "main")
    assert f"{clones['app']} (where main is checked out) has uncommitted changes" in str(
        caught.value
    )
    assert tip(clones["app"]) == before


async def test_a_conflict_merges_nothing_in_any_repo_and_names_the_files(
    host: LocalHost, factory: RepoFactory, ws: Workspace, clones: dict[str, Path]
) -> None:
    # app merges cleanly and comes first; lib conflicts. Neither may be merged.
    work(ws, "app", {"feature.txt": "feature\n"})
    work(ws, "lib", {"README.md": "# lib, the workspace's version\n", "new.txt": "n\n"})
    factory.commit(clones["lib"], "main moved", {"README.md": "# lib, main's version\n"})
    before = {name: tip(path) for name, path in clones.items()}
    with pytest.raises(MergeConflict) as caught:
        await merge_workspace(host, ws, clone_paths(clones), "main")
    error = caught.value
    assert error.message == (
        f"workspace {WS} cannot be merged into main: conflicts in lib (README.md); "
        "nothing was merged"
    )
    assert [(r.repo, r.status, r.files) for r in error.results] == [
        ("app", "not_merged", ()),
        ("lib", "conflict", ("README.md",)),
    ]
    assert error.merged == ()
    assert {name: tip(path) for name, path in clones.items()} == before
    for path in [*map(str, clones.values()), *ws.repos.values()]:
        assert_no_half_merge(path)


async def test_a_base_that_moves_during_the_merge_is_reported_honestly(
    host: LocalHost,
    factory: RepoFactory,
    ws: Workspace,
    clones: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work(ws, "app", {"feature.txt": "feature\n"})
    work(ws, "lib", {"lib.txt": "lib\n"})
    real_commit_tree = gitops.commit_tree
    racing: list[str] = []

    async def commit_tree_then_race(host: LocalHost, repo: str, *args: object, **kw: object) -> str:
        made = await real_commit_tree(host, repo, *args, **kw)  # type: ignore[arg-type]
        if repo == str(clones["lib"]):
            racing.append(factory.commit(clones["lib"], "someone else", {"other.txt": "o\n"}))
        return made

    monkeypatch.setattr(gitops, "commit_tree", commit_tree_then_race)
    with pytest.raises(MergeError) as caught:
        await merge_workspace(host, ws, clone_paths(clones), "main")
    error = caught.value
    assert not isinstance(error, (MergeBlocked, MergeConflict))
    assert "already merged: app (they stay merged)" in error.message
    assert [(r.repo, r.status) for r in error.results] == [("app", "merged"), ("lib", "failed")]
    assert error.merged == ("app",)
    assert tip(clones["lib"]) == racing[0]
    assert_no_half_merge(clones["lib"])


async def test_a_clone_without_identity_gets_metawsms(
    host: LocalHost, ws: Workspace, clones: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("NAME", "EMAIL"):
        for who in ("AUTHOR", "COMMITTER"):
            monkeypatch.delenv(f"GIT_{who}_{key}")
    work(ws, "app", {"feature.txt": "feature\n"})
    work(ws, "lib", {"lib.txt": "lib\n"})
    git_out(clones["lib"], "config", "user.name", "Op Erator")
    git_out(clones["lib"], "config", "user.email", "op@example.invalid")
    await merge_workspace(host, ws, clone_paths(clones), "main")
    ident = "%an <%ae>|%cn <%ce>"
    assert git_out(clones["app"], "log", "-1", f"--format={ident}", "main") == (
        "metawsm <metawsm@localhost>|metawsm <metawsm@localhost>"
    )
    assert git_out(clones["lib"], "log", "-1", f"--format={ident}", "main") == (
        "Op Erator <op@example.invalid>|Op Erator <op@example.invalid>"
    )


async def test_a_worktree_on_another_branch_is_refused(
    host: LocalHost, ws: Workspace, clones: dict[str, Path]
) -> None:
    git_out(ws.repos["lib"], "switch", "--quiet", "-c", "side")
    with pytest.raises(MergeBlocked) as caught:
        await merge_workspace(host, ws, clone_paths(clones), "main")
    assert caught.value.message == (
        f"workspace {WS} repo lib is on side, not on {BRANCH}; merge blocked"
    )


async def test_a_base_branch_missing_from_the_clone_is_refused(
    host: LocalHost, ws: Workspace, clones: dict[str, Path]
) -> None:
    with pytest.raises(MergeBlocked) as caught:
        await merge_workspace(host, ws, clone_paths(clones), "develop")
    assert f'base branch "develop" not found in {clones["app"]}' in caught.value.message


async def test_the_git_provider_merges_into_the_recorded_base_of_the_recorded_clones(
    provider: GitWorkspaceProvider, ws: Workspace, clones: dict[str, Path]
) -> None:
    branch_tip = work(ws, "lib", {"lib.txt": "lib\n"})
    results = await provider.merge(WS)
    assert [(r.repo, r.status, r.clone) for r in results] == [
        ("app", "up_to_date", str(clones["app"])),
        ("lib", "merged", str(clones["lib"])),
    ]
    assert git_out(clones["lib"], "merge-base", "--is-ancestor", branch_tip, "main") == ""
    assert await provider.info(WS) == ws  # the workspace is kept
    with pytest.raises(WorkspaceNotFound):
        await provider.merge("t-2-0260208-101500")
