"""Merging a workspace with the ``wsm`` provider, against the fake ``wsm`` (contracts §D.6)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from metawsm.hosts import LocalHost
from metawsm.workspaces import Workspace, WorkspaceNotFound, WsmWorkspaceProvider
from metawsm.workspaces.merge import MergeBlocked, MergeError
from tests.gates.conftest import commit_all
from tests.helpers import fake_wsm
from tests.helpers.git import RepoFactory, git_out

pytestmark = pytest.mark.anyio

WS = "t-1-0260208-101500"
BRANCH = f"task/{WS}"


class FakeWsm:
    """The fake's home, config folder and call log."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = tmp_path / "home"
        self.config = tmp_path / "config"
        self.log = tmp_path / "wsm-calls.jsonl"
        self.home.mkdir()
        wrapper = fake_wsm.install(tmp_path / "bin")
        monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(self.config))
        monkeypatch.setenv("FAKE_WSM_LOG", str(self.log))

    def register(self, clones: dict[str, Path]) -> None:
        registry = {"repositories": [{"name": n, "path": str(p)} for n, p in clones.items()]}
        target = self.config / "workspace-manager" / "registry.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(registry))

    def merge_calls(self) -> list[list[str]]:
        calls: list[dict[str, Any]] = [
            json.loads(line) for line in self.log.read_text().splitlines()
        ]
        return [c["argv"] for c in calls if c["argv"][0] == "merge"]


@pytest.fixture
def wsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeWsm:
    return FakeWsm(tmp_path, monkeypatch)


@pytest.fixture
def clone(factory: RepoFactory, wsm: FakeWsm) -> Path:
    """A clone with an origin, on ``dev``: wsm checks ``main`` out in the worktree (§D.6)."""
    repo = factory.repo("api")
    factory.origin(repo)
    git_out(repo, "switch", "--quiet", "-c", "dev")
    wsm.register({"api": repo})
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
    provider: WsmWorkspaceProvider, wsm: FakeWsm, ws: Workspace, factory: RepoFactory
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
    provider: WsmWorkspaceProvider, wsm: FakeWsm, ws: Workspace
) -> None:
    work(ws)
    await provider.merge(WS)
    git_out(ws.repos["api"], "switch", "--quiet", BRANCH)  # wsm leaves the worktree on main
    [again] = await provider.merge(WS)
    assert again.status == "up_to_date"
    assert len(wsm.merge_calls()) == 1


async def test_a_dirty_worktree_is_refused_before_wsm_runs(
    provider: WsmWorkspaceProvider, wsm: FakeWsm, ws: Workspace
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
    assert caught.value.message.startswith(f"wsm merge {WS} failed (exit 1): failed to merge api")
    assert [(r.repo, r.status) for r in caught.value.results] == [("api", "failed")]


async def test_merging_an_unknown_workspace_is_not_found(
    provider: WsmWorkspaceProvider, wsm: FakeWsm
) -> None:
    with pytest.raises(WorkspaceNotFound):
        await provider.merge(WS)
