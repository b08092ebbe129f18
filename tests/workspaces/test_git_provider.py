"""The built-in git provider, against real clones, bare origins and worktrees in a temp dir."""

# Tests check the local disk directly; blocking there is intended.
# ruff: noqa: ASYNC240

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import pytest

from metawsm.errors import NotFoundError, UsageError
from metawsm.hosts import CommandResult, LocalHost
from metawsm.hosts import git as gitops
from metawsm.workspaces import (
    BaseBranchNotFound,
    BranchExists,
    DirtyBase,
    GitWorkspaceProvider,
    RepoNotFound,
    Workspace,
    WorkspaceDirty,
    WorkspaceError,
    WorkspaceExists,
    WorkspaceNotFound,
    WorkspaceProvider,
)
from tests.helpers.git import RepoFactory, git_out

pytestmark = pytest.mark.anyio

BRANCH = "task/t-1-0260207-084728"
WS = "t-1-0260207-084728"


@pytest.fixture
def clones(factory: RepoFactory) -> dict[str, Path]:
    """Two clones, ``api`` and ``web``, each with a bare origin in sync with it."""
    out = {}
    for name in ("api", "web"):
        repo = factory.repo(name, files={"README.md": f"# {name}\n"})
        factory.origin(repo)
        out[name] = repo
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "workspaces"


def provider_for(host: LocalHost, root: Path, clones: Mapping[str, Path]) -> GitWorkspaceProvider:
    """A provider for ``clones``; typed as the protocol once so mypy checks that it conforms."""
    conforming: WorkspaceProvider = GitWorkspaceProvider(host, str(root), {})
    assert conforming.kind == "git"
    return GitWorkspaceProvider(host, str(root), {k: str(v) for k, v in clones.items()})


@pytest.fixture
def provider(host: LocalHost, root: Path, clones: dict[str, Path]) -> GitWorkspaceProvider:
    return provider_for(host, root, clones)


def branches(repo: Path) -> list[str]:
    return git_out(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def worktrees(repo: Path) -> int:
    return git_out(repo, "worktree", "list", "--porcelain").count("worktree ")


# ------------------------------------------------------------------------------------ create


async def test_create_makes_one_worktree_per_repo_on_the_branch(
    provider: GitWorkspaceProvider, root: Path, clones: dict[str, Path]
) -> None:
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert ws == Workspace(
        name=WS,
        root=str(root / WS),
        repos={"api": str(root / WS / "api"), "web": str(root / WS / "web")},
        branch=BRANCH,
        base_branch="main",
        host="local",
        provider="git",
    )
    for name, clone in clones.items():
        worktree = root / WS / name
        assert git_out(worktree, "symbolic-ref", "--short", "HEAD") == BRANCH
        assert RepoFactory.head(worktree) == RepoFactory.head(clone, "main")
        assert (worktree / "README.md").read_text() == f"# {name}\n"
    manifest = json.loads((root / WS / ".metawsm" / "workspace.json").read_text())
    assert manifest["name"] == WS
    assert manifest["branch"] == BRANCH
    assert manifest["base_branch"] == "main"
    assert list(manifest["repos"]) == ["api", "web"]
    assert manifest["created_at"].endswith("+00:00")


async def test_create_starts_from_origin_when_it_is_ahead_of_local_main(
    provider: GitWorkspaceProvider, factory: RepoFactory, root: Path, clones: dict[str, Path]
) -> None:
    local_main = RepoFactory.head(clones["api"], "main")
    upstream = factory.advance_origin(factory.base / "api.git")
    ws = await provider.create(WS, ["api"], BRANCH, "main")
    assert RepoFactory.head(Path(ws.repos["api"])) == upstream
    assert RepoFactory.head(clones["api"], "main") == local_main  # the clone's main is untouched


async def test_create_without_origin_starts_from_local_main(
    host: LocalHost, factory: RepoFactory, root: Path
) -> None:
    repo = factory.repo("solo")
    factory.commit(repo, "local work", {"local.txt": "x\n"})
    provider = provider_for(host, root, {"solo": repo})
    ws = await provider.create(WS, ["solo"], BRANCH, "main")
    assert RepoFactory.head(Path(ws.repos["solo"])) == RepoFactory.head(repo, "main")


async def test_create_strips_an_origin_prefix_from_the_base(
    provider: GitWorkspaceProvider,
) -> None:
    ws = await provider.create(WS, ["api"], BRANCH, "origin/main")
    assert ws.base_branch == "main"


async def test_create_ignores_uncommitted_changes_in_the_clone(
    provider: GitWorkspaceProvider, clones: dict[str, Path]
) -> None:
    (clones["api"] / "README.md").write_text("scratch edit\n")
    ws = await provider.create(WS, ["api"], BRANCH, "main")
    assert (Path(ws.repos["api"]) / "README.md").read_text() == "# api\n"


async def test_missing_base_branch_is_reported_as_the_original_did(
    provider: GitWorkspaceProvider, root: Path, clones: dict[str, Path]
) -> None:
    with pytest.raises(BaseBranchNotFound) as caught:
        await provider.create(WS, ["api", "web"], BRANCH, "develop")
    assert caught.value.message == f'base branch "develop" not found for repo {clones["api"]}'
    assert not (root / WS).exists()


async def test_unconfigured_repo_is_named_with_a_policy_hint(
    provider: GitWorkspaceProvider, root: Path, clones: dict[str, Path]
) -> None:
    with pytest.raises(RepoNotFound) as caught:
        await provider.create(WS, ["api", "docs"], BRANCH, "main")
    assert caught.value.repo == "docs"
    assert '"docs"' in caught.value.message
    assert caught.value.hint is not None and "workspace.repos" in caught.value.hint
    assert not (root / WS).exists()
    assert branches(clones["api"]) == ["main"]


async def test_missing_clone_and_non_repo_folder_are_repo_not_found(
    host: LocalHost, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "plain").mkdir()
    provider = provider_for(host, root, {"gone": tmp_path / "gone", "plain": tmp_path / "plain"})
    with pytest.raises(RepoNotFound, match="not found"):
        await provider.create(WS, ["gone"], BRANCH, "main")
    with pytest.raises(RepoNotFound, match="not the top of a git repository"):
        await provider.create(WS, ["plain"], BRANCH, "main")


async def test_existing_folder_is_never_clobbered(
    provider: GitWorkspaceProvider, root: Path, clones: dict[str, Path]
) -> None:
    (root / WS).mkdir(parents=True)
    (root / WS / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceExists) as caught:
        await provider.create(WS, ["api"], BRANCH, "main")
    assert not caught.value.recorded
    assert sorted(p.name for p in (root / WS).iterdir()) == ["notes.txt"]
    assert (root / WS / "notes.txt").read_text() == "mine"
    assert branches(clones["api"]) == ["main"]


async def test_creating_a_recorded_workspace_again_is_refused(
    provider: GitWorkspaceProvider,
) -> None:
    await provider.create(WS, ["api"], BRANCH, "main")
    with pytest.raises(WorkspaceExists) as caught:
        await provider.create(WS, ["api"], BRANCH, "main")
    assert caught.value.recorded


async def test_failure_on_the_second_repo_undoes_the_first(
    provider: GitWorkspaceProvider, root: Path, clones: dict[str, Path]
) -> None:
    # web's clone has the workspace branch checked out (at the start commit), so git refuses
    # a second checkout of it: the failure comes after api's worktree was made.
    git_out(clones["web"], "checkout", "--quiet", "-b", BRANCH)
    with pytest.raises(WorkspaceError, match="repo web") as caught:
        await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert "already" in caught.value.message
    assert not (root / WS).exists()
    assert worktrees(clones["api"]) == 1
    assert branches(clones["api"]) == ["main"]
    assert BRANCH in branches(clones["web"])  # not ours to delete


class _StallSecondWorktree:
    """A host whose second ``git worktree add`` never returns (until cancelled)."""

    def __init__(self, inner: LocalHost) -> None:
        self._inner = inner
        self.adds = 0
        self.stalled = anyio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def run(self, argv: Sequence[str], **kwargs: object) -> CommandResult:
        if "worktree" in argv and "add" in argv:
            self.adds += 1
            if self.adds == 2:
                self.stalled.set()
                await anyio.sleep_forever()
        return await self._inner.run(argv, **kwargs)  # type: ignore[arg-type]


async def test_cancelled_create_undoes_what_it_made(
    host: LocalHost, root: Path, clones: dict[str, Path]
) -> None:
    stalling = _StallSecondWorktree(host)
    provider = GitWorkspaceProvider(stalling, str(root), {k: str(v) for k, v in clones.items()})  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(provider.create, WS, ["api", "web"], BRANCH, "main")
        await stalling.stalled.wait()
        tg.cancel_scope.cancel()
    assert not (root / WS).exists()
    assert branches(clones["api"]) == ["main"]
    assert worktrees(clones["api"]) == 1


async def test_branch_at_another_commit_is_refused(
    provider: GitWorkspaceProvider, factory: RepoFactory, root: Path, clones: dict[str, Path]
) -> None:
    git_out(clones["web"], "branch", BRANCH)
    git_out(clones["web"], "checkout", "--quiet", BRANCH)
    factory.commit(clones["web"], "someone's work", {"work.txt": "w\n"})
    git_out(clones["web"], "checkout", "--quiet", "main")
    with pytest.raises(BranchExists, match="already exists in repo web"):
        await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert not (root / WS).exists()
    assert branches(clones["api"]) == ["main"]


async def test_branch_kept_by_a_delete_is_picked_up_again_if_untouched(
    provider: GitWorkspaceProvider, clones: dict[str, Path]
) -> None:
    await provider.create(WS, ["api"], BRANCH, "main")
    assert await provider.delete(WS)
    assert BRANCH in branches(clones["api"])
    ws = await provider.create(WS, ["api"], BRANCH, "main")
    assert git_out(Path(ws.repos["api"]), "symbolic-ref", "--short", "HEAD") == BRANCH


async def test_local_base_in_the_middle_of_a_merge_is_a_dirty_base(
    host: LocalHost, factory: RepoFactory, root: Path
) -> None:
    repo = factory.repo("solo", files={"a.txt": "base\n"})
    git_out(repo, "checkout", "--quiet", "-b", "other")
    factory.commit(repo, "other", {"a.txt": "other\n"})
    git_out(repo, "checkout", "--quiet", "main")
    factory.commit(repo, "main", {"a.txt": "main\n"})
    with pytest.raises(AssertionError):
        git_out(repo, "merge", "other")
    provider = provider_for(host, root, {"solo": repo})
    with pytest.raises(DirtyBase, match="middle of a merge"):
        await provider.create(WS, ["solo"], BRANCH, "main")
    assert not (root / WS).exists()


async def test_a_merge_in_the_clone_does_not_matter_when_starting_from_origin(
    provider: GitWorkspaceProvider, factory: RepoFactory, clones: dict[str, Path]
) -> None:
    repo = clones["api"]
    git_out(repo, "checkout", "--quiet", "-b", "other")
    factory.commit(repo, "other", {"README.md": "other\n"})
    git_out(repo, "checkout", "--quiet", "main")
    factory.commit(repo, "main", {"README.md": "main\n"})
    with pytest.raises(AssertionError):
        git_out(repo, "merge", "other")
    ws = await provider.create(WS, ["api"], BRANCH, "main")
    assert RepoFactory.head(Path(ws.repos["api"])) == RepoFactory.head(repo, "origin/main")


async def test_agent_signal_files_do_not_make_a_worktree_dirty(
    provider: GitWorkspaceProvider, host: LocalHost
) -> None:
    ws = await provider.create(WS, ["api"], BRANCH, "main")
    worktree = Path(ws.repos["api"])
    (worktree / ".metawsm").mkdir()
    (worktree / ".metawsm" / "implementation-complete.json").write_text("{}")
    assert not await gitops.is_dirty(host, str(worktree))
    (worktree / "feature.py").write_text("print('hi')\n")
    assert await gitops.is_dirty(host, str(worktree))


@pytest.mark.parametrize(
    ("name", "repo", "branch"),
    [
        ("../escape", "api", BRANCH),
        ("ok", "../api", BRANCH),
        ("-x", "api", BRANCH),
        ("ok", "api", " "),
    ],
)
async def test_unsafe_names_are_usage_errors(
    provider: GitWorkspaceProvider, root: Path, name: str, repo: str, branch: str
) -> None:
    with pytest.raises(UsageError):
        await provider.create(name, [repo], branch, "main")
    assert not root.exists() or list(root.iterdir()) == []


# ------------------------------------------------------------------------ info, reuse, fork


async def test_reuse_and_info_read_the_record(provider: GitWorkspaceProvider) -> None:
    created = await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert await provider.info(WS) == created
    assert await provider.reuse(WS) == created


async def test_reuse_of_an_unknown_workspace_is_not_found(provider: GitWorkspaceProvider) -> None:
    assert await provider.info("nope") is None
    with pytest.raises(WorkspaceNotFound) as caught:
        await provider.reuse("nope")
    assert isinstance(caught.value, NotFoundError)
    assert caught.value.message == 'workspace "nope" not found'


async def test_reuse_of_a_workspace_missing_a_worktree_is_an_error(
    provider: GitWorkspaceProvider, clones: dict[str, Path]
) -> None:
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    git_out(clones["web"], "worktree", "remove", ws.repos["web"])
    with pytest.raises(WorkspaceError, match="incomplete"):
        await provider.reuse(WS)


async def test_fork_starts_from_the_source_branch_heads(
    provider: GitWorkspaceProvider, factory: RepoFactory, root: Path
) -> None:
    source = await provider.create(WS, ["api", "web"], BRANCH, "main")
    api_work = factory.commit(Path(source.repos["api"]), "agent work", {"api.py": "x = 1\n"})
    (Path(source.repos["web"]) / "uncommitted.txt").write_text("not carried over")
    fork = await provider.fork("fork-1", WS, "task/fork-1")
    assert fork.base_branch == BRANCH
    assert fork.repos == {"api": str(root / "fork-1" / "api"), "web": str(root / "fork-1" / "web")}
    assert RepoFactory.head(Path(fork.repos["api"])) == api_work
    assert not (Path(fork.repos["web"]) / "uncommitted.txt").exists()
    assert git_out(Path(fork.repos["web"]), "symbolic-ref", "--short", "HEAD") == "task/fork-1"


async def test_fork_of_an_unknown_workspace_is_not_found(provider: GitWorkspaceProvider) -> None:
    with pytest.raises(WorkspaceNotFound):
        await provider.fork("fork-1", "nope", "task/fork-1")


# ------------------------------------------------------------------------------------ delete


async def test_delete_removes_worktrees_and_record_but_keeps_branches(
    provider: GitWorkspaceProvider, factory: RepoFactory, root: Path, clones: dict[str, Path]
) -> None:
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    work = factory.commit(Path(ws.repos["api"]), "agent work", {"api.py": "x = 1\n"})
    assert await provider.delete(WS)
    assert not (root / WS).exists()
    for clone in clones.values():
        assert worktrees(clone) == 1
        assert BRANCH in branches(clone)
    assert RepoFactory.head(clones["api"], BRANCH) == work


async def test_deleting_twice_is_fine(provider: GitWorkspaceProvider) -> None:
    await provider.create(WS, ["api"], BRANCH, "main")
    assert await provider.delete(WS)
    assert not await provider.delete(WS)
    assert not await provider.delete("never-made")


async def test_delete_refuses_uncommitted_work_unless_forced(
    provider: GitWorkspaceProvider, root: Path
) -> None:
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    (Path(ws.repos["web"]) / "draft.txt").write_text("work in progress")
    with pytest.raises(WorkspaceDirty) as caught:
        await provider.delete(WS)
    assert caught.value.repos == ("web",)
    assert Path(ws.repos["api"]).exists() and Path(ws.repos["web"]).exists()
    assert await provider.delete(WS, force=True)
    assert not (root / WS).exists()


async def test_delete_tolerates_a_worktree_removed_by_hand(
    provider: GitWorkspaceProvider, root: Path, clones: dict[str, Path]
) -> None:
    import shutil

    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    shutil.rmtree(ws.repos["api"])
    assert await provider.delete(WS)
    assert not (root / WS).exists()
    assert worktrees(clones["api"]) == 1


async def test_delete_leaves_an_unrecorded_folder_alone(
    provider: GitWorkspaceProvider, root: Path
) -> None:
    (root / WS).mkdir(parents=True)
    (root / WS / "notes.txt").write_text("mine")
    assert not await provider.delete(WS)
    assert (root / WS / "notes.txt").read_text() == "mine"
