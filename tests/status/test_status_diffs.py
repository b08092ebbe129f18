"""collect_diffs against real git repositories laid out as workspaces (<root>/<ws>/<repo>)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import pytest

from metawsm.hosts import CommandResult, LocalHost
from metawsm.status import (
    MAX_COMMIT_LINES,
    build_status,
    collect_diffs,
    render_status_text,
    workspace_path,
)
from tests.helpers.git import RepoFactory, git_out
from tests.status.sample import NOW, run_record

pytestmark = pytest.mark.anyio


class CountingHost(LocalHost):
    """This machine, counting the commands run through it."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[tuple[str, ...]] = []

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        self.commands.append(tuple(argv))
        return await super().run(argv, cwd=cwd, env=env, timeout=timeout, check=check, stdin=stdin)


class HangingHost(LocalHost):
    """A host whose commands never finish (a wedged NFS mount, a stuck ssh channel)."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


def make_workspace(root: Path, ws: str, *repos: str) -> dict[str, str]:
    factory = RepoFactory(root / ws)
    return {repo: str(factory.repo(repo)) for repo in repos}


def write_files(folder: str | Path, files: Mapping[str, str]) -> None:
    for name, content in files.items():
        Path(folder, name).write_text(content)


async def test_clean_dirty_missing_repo_and_missing_workspace(workspaces_root: Path) -> None:
    ws_a = make_workspace(workspaces_root, "ws-a", "api", "web")
    write_files(
        ws_a["web"], {"README.md": "changed\n"} | {f"new-{i}.txt": "x\n" for i in range(10)}
    )
    ws_b = {
        **make_workspace(workspaces_root, "ws-b", "api"),
        "docs": str(workspaces_root / "ws-b" / "docs"),
    }
    ws_c = {"api": str(workspaces_root / "ws-c" / "api")}
    host = CountingHost()

    views = await collect_diffs(
        host, {"ws-a": ws_a, "ws-b": ws_b, "ws-c": ws_c, "ws-d": {}}, "main"
    )

    assert [v.workspace for v in views] == ["ws-a", "ws-b", "ws-c", "ws-d"]
    a, b, c, d = views
    assert a.path == str(workspaces_root / "ws-a") and a.error is None
    api, web_view = a.repos
    assert (api.repo, api.clean, api.files, api.lines) == ("api", True, 0, [])
    assert (web_view.clean, web_view.files) == (False, 11)
    assert web_view.lines[0] == " M README.md"
    assert web_view.lines[1:] == [f"?? new-{i}.txt" for i in range(7)]
    assert web_view.insertions is None  # not asked for
    assert a.dirty

    assert b.error is None
    assert b.repos[0].clean and b.repos[0].error is None
    docs = b.repos[1]
    assert docs.repo == "docs" and not docs.clean
    assert docs.error is not None and "cannot change to" in docs.error

    assert c.error == f"workspace folder missing: {workspaces_root / 'ws-c'}"
    assert c.repos == []
    assert d.error == "no repos recorded" and d.path is None

    # The status path: exactly one git call per repo it could look at.
    git_calls = [cmd for cmd in host.commands if cmd[0] == "git"]
    assert len(git_calls) == 4
    assert all("status" in cmd for cmd in git_calls)


async def test_text_of_collected_diffs_shows_the_overflow(workspaces_root: Path) -> None:
    ws = make_workspace(workspaces_root, "ws-a", "web")
    write_files(ws["web"], {f"f{i}.txt": "x\n" for i in range(10)})
    diffs = await collect_diffs(LocalHost(), {"ws-a": ws}, "main")
    view = build_status(run_record(), [], [], [], [], now=NOW, supervisor_up=False, diffs=diffs)
    text = render_status_text(view)
    assert f"  - ws-a path={workspaces_root / 'ws-a'}\n    * web dirty files=10\n" in text
    assert "      ?? f7.txt\n      ... (2 more)\n" in text


async def test_rename_prints_like_git_status_short(workspaces_root: Path) -> None:
    ws = make_workspace(workspaces_root, "ws-a", "api")
    git_out(ws["api"], "mv", "README.md", "DOCS.md")
    [view] = await collect_diffs(LocalHost(), {"ws-a": ws}, "main")
    assert view.repos[0].lines == ["R  README.md -> DOCS.md"]


async def test_stat_counts_lines_since_the_base_when_asked(workspaces_root: Path) -> None:
    ws = make_workspace(workspaces_root, "ws-a", "api")
    repo = Path(ws["api"])
    git_out(repo, "switch", "--quiet", "-c", "task/ws-a")
    RepoFactory(repo.parent).commit(repo, "work", {"feature.txt": "a\nb\nc\n"})
    write_files(repo, {"README.md": ""})  # one line removed, uncommitted

    [view] = await collect_diffs(LocalHost(), {"ws-a": ws}, "main", with_stat=True)
    api = view.repos[0]
    assert (api.clean, api.files, api.lines) == (False, 1, [" M README.md"])
    assert (api.insertions, api.deletions, api.stat_error) == (3, 1, None)


async def test_stat_failure_keeps_the_status_facts(workspaces_root: Path) -> None:
    ws = make_workspace(workspaces_root, "ws-a", "api")
    [view] = await collect_diffs(LocalHost(), {"ws-a": ws}, "no-such-base", with_stat=True)
    api = view.repos[0]
    assert api.clean and api.error is None
    assert api.insertions is None
    assert api.stat_error is not None and "no-such-base" in api.stat_error


async def test_a_hung_git_is_an_error_not_a_hang(workspaces_root: Path) -> None:
    ws = make_workspace(workspaces_root, "ws-a", "api")
    [view] = await collect_diffs(HangingHost(), {"ws-a": ws}, "main", timeout=0.2)
    assert view.repos[0].error == "git status timed out after 0.2s"


def test_workspace_path_is_the_folder_holding_the_repos() -> None:
    assert workspace_path({"api": "/w/ws/api", "web": "/w/ws/web"}) == "/w/ws"
    assert workspace_path({"api": "/w/ws/api/"}) == "/w/ws"
    assert workspace_path({}) is None
    assert workspace_path({"a": "/w/a", "b": "rel/b"}) is None


async def test_branch_review_lists_commits_ahead_and_the_diffstat_of_base_dot_dot_dot_head(
    workspaces_root: Path,
) -> None:
    ws = make_workspace(workspaces_root, "ws-a", "api")
    repo = Path(ws["api"])
    factory = RepoFactory(repo.parent)
    git_out(repo, "switch", "--quiet", "-c", "task/ws-a")
    factory.commit(repo, "T-1: cache", {"cache.py": "CACHE = {}\n"})
    factory.commit(repo, "T-1: more\n\nbody text", {"cache.py": "CACHE = {}\nTTL = 5\n"})
    (repo / "logo.bin").write_bytes(b"\0\1\2")
    git_out(repo, "add", "logo.bin")
    git_out(repo, "commit", "-q", "-m", "T-1: logo")
    # main moves on after the fork: base...HEAD leaves its change out.
    git_out(repo, "switch", "--quiet", "main")
    factory.commit(repo, "operator: readme", {"README.md": "# changed on main\n"})
    git_out(repo, "switch", "--quiet", "task/ws-a")
    write_files(repo, {"scratch.txt": "uncommitted\n"})

    [view] = await collect_diffs(LocalHost(), {"ws-a": ws}, "main", with_branch=True)
    api = view.repos[0]
    assert (api.clean, api.lines) == (False, ["?? scratch.txt"])  # uncommitted, beside
    branch = api.branch
    assert branch is not None and branch.error is None
    assert branch.base == "main" and branch.ahead == 3
    assert [c.subject for c in branch.commits] == ["T-1: logo", "T-1: more", "T-1: cache"]
    assert all(len(c.sha) >= 7 for c in branch.commits)
    assert (branch.files, branch.insertions, branch.deletions) == (2, 2, 0)
    assert {(f.path, f.insertions, f.deletions) for f in branch.stat} == {
        ("cache.py", 2, 0),
        ("logo.bin", None, None),
    }
    text = render_status_text(
        build_status(run_record(), [], [], [], [], now=NOW, supervisor_up=False, diffs=[view])
    )
    assert "      ahead of main: 3 commits\n" in text
    assert f"        {branch.commits[0].sha} T-1: logo\n" in text
    assert "      diffstat main...HEAD: 2 files, +2 -0\n" in text
    assert "        logo.bin | binary\n" in text


async def test_branch_review_counts_past_the_listed_commits_and_reports_a_missing_base(
    workspaces_root: Path,
) -> None:
    ws = make_workspace(workspaces_root, "ws-a", "api")
    repo = Path(ws["api"])
    factory = RepoFactory(repo.parent)
    git_out(repo, "switch", "--quiet", "-c", "task/ws-a")
    for i in range(MAX_COMMIT_LINES + 3):
        factory.commit(repo, f"step {i}", {"n.txt": f"{i}\n"})
    [view] = await collect_diffs(LocalHost(), {"ws-a": ws}, "main", with_branch=True)
    branch = view.repos[0].branch
    assert branch is not None
    assert (branch.ahead, len(branch.commits)) == (MAX_COMMIT_LINES + 3, MAX_COMMIT_LINES)
    assert branch.commits[0].subject == f"step {MAX_COMMIT_LINES + 2}"  # newest first

    [missing] = await collect_diffs(LocalHost(), {"ws-a": ws}, "trunk", with_branch=True)
    api = missing.repos[0]
    assert api.error is None and api.clean  # the git status facts stay
    assert api.branch is not None and api.branch.error == 'base branch "trunk" not found'
