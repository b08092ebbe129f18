"""The wsm provider, against the real ``wsm`` (workspace-manager at the pinned commit).

The binary comes from ``make tools`` (``tests/helpers/tools.py``; skipped with the reason when
it is not installed). Each test isolates ``HOME`` and ``XDG_CONFIG_HOME`` in a temp folder,
gives every repo a bare-repo ``origin`` for wsm's fetches, and runs wsm through a recording
shim that logs each call and execs the real binary. These tests check that metawsm drives it
so that it never prompts, never overwrites, and that its records are read as the original
read them.
"""

# Tests check the local disk directly; blocking there is intended.
# ruff: noqa: ASYNC240

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metawsm.hosts import LocalHost
from metawsm.workspaces import (
    BaseBranchNotFound,
    BranchExists,
    RepoNotFound,
    WorkspaceDirty,
    WorkspaceError,
    WorkspaceExists,
    WorkspaceNotFound,
    WorkspaceProvider,
    WsmWorkspaceProvider,
)
from tests.helpers.git import RepoFactory, git_out
from tests.helpers.tools import RealWsm

pytestmark = pytest.mark.anyio

WS = "t-1-0260207-084728"
BRANCH = "task/t-1-0260207-084728"


@pytest.fixture
def wsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RealWsm:
    return RealWsm(tmp_path, monkeypatch)


@pytest.fixture
def clones(factory: RepoFactory, wsm: RealWsm) -> dict[str, Path]:
    out = {}
    for name in ("api", "web"):
        repo = factory.repo(name, files={"README.md": f"# {name}\n"})
        factory.origin(repo)
        out[name] = repo
    wsm.register(factory.base)
    return out


@pytest.fixture
def provider(host: LocalHost) -> WsmWorkspaceProvider:
    conforming: WorkspaceProvider = WsmWorkspaceProvider(host)  # mypy checks the protocol
    assert conforming.kind == "wsm"
    return WsmWorkspaceProvider(host)


def branches(repo: Path) -> list[str]:
    return git_out(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


async def test_create_reads_the_workspace_from_wsm_json(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    record = json.loads(wsm.record(WS).read_text())
    assert ws.root == record["path"]
    assert Path(ws.root).parent.parent == wsm.home / "workspaces"  # ~/workspaces/<date>/<name>
    assert ws.repos == {"api": f"{ws.root}/api", "web": f"{ws.root}/web"}
    assert (ws.branch, ws.base_branch, ws.provider) == (BRANCH, "main", "wsm")
    for name in ("api", "web"):
        assert git_out(Path(ws.repos[name]), "symbolic-ref", "--short", "HEAD") == BRANCH


async def test_create_runs_wsm_with_a_base_and_without_a_terminal(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    await provider.create(WS, ["api", "web"], BRANCH, "main")
    [call] = wsm.calls()
    assert call["argv"] == [
        "create", WS, "--repos", "api,web", "--branch", BRANCH, "--base-branch", "main",
    ]  # fmt: skip
    assert call["session_leader"]  # under setsid: no controlling terminal to prompt on


async def test_create_aligns_worktrees_to_origin_when_it_is_ahead(
    provider: WsmWorkspaceProvider, factory: RepoFactory, clones: dict[str, Path]
) -> None:
    upstream = factory.advance_origin(factory.base / "api.git")
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert RepoFactory.head(Path(ws.repos["api"])) == upstream
    assert RepoFactory.head(Path(ws.repos["web"])) == RepoFactory.head(clones["web"], "main")
    upstream_ref = git_out(Path(ws.repos["api"]), "for-each-ref", "--format=%(upstream)",
                           f"refs/heads/{BRANCH}")  # fmt: skip
    assert upstream_ref == ""


async def test_create_refuses_a_recorded_name_before_wsm_can_overwrite_it(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    await provider.create(WS, ["api"], BRANCH, "main")
    with pytest.raises(WorkspaceExists):
        await provider.create(WS, ["web"], "task/other", "main")
    assert len(wsm.calls()) == 1


async def test_create_refuses_an_existing_branch_instead_of_letting_wsm_prompt(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    git_out(clones["web"], "branch", BRANCH)
    with pytest.raises(BranchExists, match="locally"):
        await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert wsm.calls() == []


async def test_unregistered_repo_is_repo_not_found(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    with pytest.raises(RepoNotFound) as caught:
        await provider.create(WS, ["api", "docs"], BRANCH, "main")
    assert caught.value.repo == "docs"
    assert caught.value.hint is not None and "wsm discover" in caught.value.hint
    assert wsm.calls() == []


async def test_missing_base_branch_is_reported_before_wsm_runs(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    with pytest.raises(BaseBranchNotFound, match='base branch "develop" not found for repo'):
        await provider.create(WS, ["api"], BRANCH, "develop")
    assert wsm.calls() == []


async def test_failed_wsm_create_reports_its_error_and_leaves_no_branch(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    # Occupy web's worktree target (in today's folder, learnt from a first workspace) so that
    # wsm's own `git worktree add` fails on web after it made api's worktree and branch.
    first = await provider.create("first", ["api"], "task/first", "main")
    target = Path(first.root).parent / WS / "web"
    target.mkdir(parents=True)
    (target / "occupied.txt").write_text("x")
    with pytest.raises(WorkspaceError, match=r"wsm create .* failed \(exit 1\)"):
        await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert not wsm.record(WS).exists()
    assert BRANCH not in branches(clones["api"])
    assert BRANCH not in branches(clones["web"])
    assert (target / "occupied.txt").read_text() == "x"


async def test_delete_always_passes_force_and_removes_the_record(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    assert await provider.delete(WS)
    assert wsm.calls()[-1]["argv"] == ["delete", WS, "--force"]
    assert not wsm.record(WS).exists()
    assert not Path(ws.repos["api"]).exists()
    assert BRANCH in branches(clones["api"])  # wsm never deletes branches


async def test_deleting_an_unknown_workspace_is_success_without_calling_wsm(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    await provider.create(WS, ["api"], BRANCH, "main")
    assert await provider.delete(WS)
    assert not await provider.delete(WS)
    assert [c["argv"][0] for c in wsm.calls()] == ["create", "delete"]


async def test_wsm_saying_workspace_not_found_counts_as_already_deleted(
    host: LocalHost, provider: WsmWorkspaceProvider, wsm: RealWsm, tmp_path: Path,
    clones: dict[str, Path],
) -> None:  # fmt: skip
    # metawsm reads a record that wsm (looking elsewhere) does not have: wsm answers
    # "workspace '<name>' not found", exit 1, which the original accepted as success (§D.5).
    await provider.create(WS, ["api"], BRANCH, "main")
    other = tmp_path / "other-config"
    (other / "workspace-manager" / "workspaces").mkdir(parents=True)
    wsm.record(WS).rename(other / "workspace-manager" / "workspaces" / f"{WS}.json")
    elsewhere = WsmWorkspaceProvider(host, config_dir=str(other))
    assert not await elsewhere.delete(WS)
    assert wsm.calls()[-1]["argv"] == ["delete", WS, "--force"]


async def test_delete_refuses_dirty_worktrees_unless_forced(
    provider: WsmWorkspaceProvider, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    ws = await provider.create(WS, ["api", "web"], BRANCH, "main")
    (Path(ws.repos["web"]) / "draft.txt").write_text("wip")
    with pytest.raises(WorkspaceDirty):
        await provider.delete(WS)
    assert wsm.record(WS).exists()
    assert await provider.delete(WS, force=True)
    assert wsm.calls()[-1]["argv"] == ["delete", WS, "--force", "--force-worktrees"]
    assert not wsm.record(WS).exists()


async def test_fork_names_its_source_and_starts_from_its_branch(
    provider: WsmWorkspaceProvider, factory: RepoFactory, wsm: RealWsm, clones: dict[str, Path]
) -> None:
    source = await provider.create(WS, ["api", "web"], BRANCH, "main")
    work = factory.commit(Path(source.repos["api"]), "agent work", {"api.py": "x = 1\n"})
    fork = await provider.fork("fork-1", WS, "task/fork-1")
    assert wsm.calls()[-1]["argv"] == ["fork", "fork-1", WS, "--branch", "task/fork-1"]
    assert fork.base_branch == BRANCH
    assert RepoFactory.head(Path(fork.repos["api"])) == work
    assert git_out(Path(fork.repos["web"]), "symbolic-ref", "--short", "HEAD") == "task/fork-1"


async def test_reuse_of_unknown_workspace_is_not_found(provider: WsmWorkspaceProvider) -> None:
    assert await provider.info("nope") is None
    with pytest.raises(WorkspaceNotFound):
        await provider.reuse("nope")


async def test_reuse_returns_the_recorded_workspace(
    provider: WsmWorkspaceProvider, clones: dict[str, Path]
) -> None:
    created = await provider.create(WS, ["api"], BRANCH, "main")
    assert await provider.reuse(WS) == created


async def test_missing_wsm_binary_is_a_clear_error(
    host: LocalHost, clones: dict[str, Path]
) -> None:
    provider = WsmWorkspaceProvider(host, wsm_binary="wsm-not-installed")
    with pytest.raises(WorkspaceError, match="not installed") as caught:
        await provider.create(WS, ["api"], BRANCH, "main")
    assert caught.value.hint is not None and "workspace.provider" in caught.value.hint


async def test_config_dir_follows_xdg_then_home(
    host: LocalHost, monkeypatch: pytest.MonkeyPatch, wsm: RealWsm
) -> None:
    wsm.record(WS).parent.mkdir(parents=True)
    wsm.record(WS).write_text(json.dumps({"name": WS, "path": "/w", "repositories": []}))
    assert (await WsmWorkspaceProvider(host).info(WS)) is not None
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert (await WsmWorkspaceProvider(host).info(WS)) is None
    home_record = wsm.home / ".config" / "workspace-manager" / "workspaces" / f"{WS}.json"
    home_record.parent.mkdir(parents=True)
    home_record.write_text(json.dumps({"name": WS, "path": "/h", "repositories": []}))
    found = await WsmWorkspaceProvider(host).info(WS)
    assert found is not None and found.root == "/h"


async def test_record_without_path_is_an_error(host: LocalHost, wsm: RealWsm) -> None:
    wsm.record(WS).parent.mkdir(parents=True)
    wsm.record(WS).write_text(json.dumps({"name": WS}))
    with pytest.raises(WorkspaceError, match="workspace config missing path"):
        await WsmWorkspaceProvider(host).info(WS)
