"""Merging a workspace with the ``wsm`` provider, against the real ``wsm`` (contracts §D.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metawsm.hosts import LocalHost
from metawsm.workspaces import Workspace, WorkspaceNotFound, WsmWorkspaceProvider
from metawsm.workspaces.merge import MergeBlocked, MergeError
from tests.gates.conftest import commit_all
from tests.helpers.git import RepoFactory, git_out
from tests.helpers.tools import RealWsm

pytestmark = pytest.mark.anyio

WS = "t-1-0260208-101500"
BRANCH = f"task/{WS}"


class MergeWsm(RealWsm):
    """The real wsm, with its merge calls picked out of the log."""

    def merge_calls(self) -> list[list[str]]:
        return [c["argv"] for c in self.calls() if c["argv"][0] == "merge"]


@pytest.fixture
def wsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MergeWsm:
    return MergeWsm(tmp_path, monkeypatch)


@pytest.fixture
def clone(factory: RepoFactory, wsm: MergeWsm) -> Path:
    """A clone with an origin, on ``dev``: wsm checks ``main`` out in the worktree (§D.6)."""
    repo = factory.repo("api")
    factory.origin(repo)
    git_out(repo, "switch", "--quiet", "-c", "dev")
    wsm.register(factory.base)
    return repo


@pytest.fixture
def provider(host: LocalHost) -> WsmWorkspaceProvider:
    return WsmWorkspaceProvider(host)


@pytest.fixture
async def ws(provider: WsmWorkspaceProvider, clone: Path) -> Workspace:
    return await provider.create(WS, ["api"], BRANCH, "main")


def work(ws: Workspace) -> str:
    path = Path(ws.repos["api"])
    (path / "feature.txt").write_text("feature\n")
    commit_all(path, "agent work")
    return RepoFactory.head(path)


async def test_merge_runs_wsm_without_a_prompt_and_keeps_the_workspace(
    provider: WsmWorkspaceProvider, wsm: MergeWsm, ws: Workspace, factory: RepoFactory
) -> None:
    branch_tip = work(ws)
    [result] = await provider.merge(WS)
    assert wsm.merge_calls() == [["merge", WS, "--force", "--keep-workspace"]]
    assert (result.repo, result.status, result.base) == ("api", "merged", "main")
    origin = factory.base / "api.git"
    assert result.commit == RepoFactory.head(origin, "main")
    git_out(origin, "merge-base", "--is-ancestor", branch_tip, "main")  # pushed by wsm
    assert await provider.info(WS) == ws


async def test_a_second_merge_is_up_to_date_and_does_not_call_wsm(
    provider: WsmWorkspaceProvider, wsm: MergeWsm, ws: Workspace
) -> None:
    work(ws)
    await provider.merge(WS)
    git_out(ws.repos["api"], "switch", "--quiet", BRANCH)  # wsm leaves the worktree on main
    [again] = await provider.merge(WS)
    assert again.status == "up_to_date"
    assert len(wsm.merge_calls()) == 1


async def test_a_dirty_worktree_is_refused_before_wsm_runs(
    provider: WsmWorkspaceProvider, wsm: MergeWsm, ws: Workspace
) -> None:
    work(ws)
    (Path(ws.repos["api"]) / "wip.txt").write_text("wip\n")
    with pytest.raises(MergeBlocked) as caught:
        await provider.merge(WS)
    assert caught.value.message == f"workspace {WS} repo api has uncommitted changes; merge blocked"
    assert wsm.merge_calls() == []


async def test_a_failing_wsm_merge_is_reported(
    provider: WsmWorkspaceProvider, ws: Workspace, clone: Path
) -> None:
    work(ws)
    git_out(clone, "switch", "--quiet", "main")  # now wsm cannot check main out in the worktree
    with pytest.raises(MergeError) as caught:
        await provider.merge(WS)
    assert caught.value.message.startswith(
        f"wsm merge {WS} failed (exit 1): Error: merge failed for repository api"
    )
    assert "already checked out" in caught.value.message
    assert [(r.repo, r.status) for r in caught.value.results] == [("api", "failed")]


async def test_merging_an_unknown_workspace_is_not_found(
    provider: WsmWorkspaceProvider, wsm: MergeWsm
) -> None:
    with pytest.raises(WorkspaceNotFound):
        await provider.merge(WS)
