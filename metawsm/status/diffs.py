"""The changes of a run's workspaces, for the ``Diffs:`` part of status.

This is on the status path, so it is cheap: one ``git status`` per repo (``--porcelain``, with
``GIT_OPTIONAL_LOCKS=0`` so it never takes the agent's index lock), run a few at a time, each
bounded by a timeout. With ``with_branch`` (what ``status`` asks for) each repo also gets the
review material of :mod:`metawsm.status.review`: the commits its branch has beyond the base
and the diffstat of ``base...HEAD`` (three more git calls). The lines-since-fork counts that
include uncommitted changes are only collected when asked for (``with_stat``). Errors are
reported per repo (or per workspace) in the views, never raised: one broken worktree must not
hide the others.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

import anyio

from metawsm.hosts import git as gitops
from metawsm.hosts.base import Host
from metawsm.hosts.errors import CommandFailed, HostError
from metawsm.status.review import branch_review
from metawsm.status.views import MAX_DIFF_LINES, BranchView, RepoDiffView, WorkspaceDiffView

__all__ = ["DEFAULT_DIFF_TIMEOUT", "collect_diffs", "workspace_path"]

#: Seconds one repo's git calls may take before its diff is reported as an error.
DEFAULT_DIFF_TIMEOUT = 15.0
#: Repos looked at concurrently.
DEFAULT_CONCURRENCY = 8


def workspace_path(repos: Mapping[str, str]) -> str | None:
    """The folder holding a workspace's repo worktrees (``<root>/<ws>/<repo>`` → ``<root>/<ws>``).

    ``None`` when there are no repos or their paths have nothing in common.
    """
    parents = [posixpath.dirname(path.rstrip("/")) for path in repos.values()]
    if not parents:
        return None
    try:
        return posixpath.commonpath(parents) or None
    except ValueError:  # absolute mixed with relative paths
        return None


def status_line(entry: gitops.StatusEntry) -> str:
    """An entry as ``git status --short`` prints it (``?? new.txt``, ``R  old -> new``)."""
    if entry.orig_path is not None:
        return f"{entry.code} {entry.orig_path} -> {entry.path}"
    return f"{entry.code} {entry.path}"


def _error_text(exc: Exception) -> str:
    if isinstance(exc, CommandFailed):
        lines = [line.strip() for line in exc.stderr.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return str(exc) or type(exc).__name__


async def collect_diffs(
    host: Host,
    workspaces: Mapping[str, Mapping[str, str]],
    base_branch: str = "main",
    *,
    with_stat: bool = False,
    with_branch: bool = False,
    timeout: float = DEFAULT_DIFF_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[WorkspaceDiffView]:
    """The changes of every repo of every workspace (workspace → repo name → worktree path).

    Workspaces and repos keep the mapping's order. With ``with_stat``, each repo also gets the
    lines added and removed since it forked from ``base_branch`` (a failure there is reported
    in ``stat_error`` and keeps the ``git status`` facts).
    """
    limiter = anyio.CapacityLimiter(max(1, concurrency))
    results: dict[tuple[str, str], RepoDiffView] = {}
    missing: dict[str, str] = {}

    async def look_at_repo(ws: str, repo: str, path: str) -> None:
        async with limiter:
            results[(ws, repo)] = await _repo_diff(
                host,
                repo,
                path,
                base_branch if with_stat else None,
                timeout,
                branch_base=base_branch if with_branch else None,
            )

    async def look_at_workspace(ws: str, repos: Mapping[str, str], root: str) -> None:
        try:
            with anyio.fail_after(timeout):
                folder = await host.stat(root)
        except (TimeoutError, HostError, OSError) as exc:
            missing[ws] = f"cannot stat {root}: {_error_text(exc)}"
            return
        if folder is None:
            missing[ws] = f"workspace folder missing: {root}"
            return
        async with anyio.create_task_group() as tg:
            for repo, path in repos.items():
                tg.start_soon(look_at_repo, ws, repo, path)

    roots = {ws: workspace_path(repos) for ws, repos in workspaces.items()}
    async with anyio.create_task_group() as tg:
        for ws, repos in workspaces.items():
            root = roots[ws]
            if root is not None:
                tg.start_soon(look_at_workspace, ws, repos, root)

    views = []
    for ws, repos in workspaces.items():
        root = roots[ws]
        if root is None:
            views.append(WorkspaceDiffView(workspace=ws, error="no repos recorded"))
        elif ws in missing:
            views.append(WorkspaceDiffView(workspace=ws, path=root, error=missing[ws]))
        else:
            views.append(
                WorkspaceDiffView(
                    workspace=ws, path=root, repos=[results[(ws, repo)] for repo in repos]
                )
            )
    return views


async def _repo_diff(
    host: Host,
    repo: str,
    path: str,
    base: str | None,
    timeout: float,
    *,
    branch_base: str | None = None,
) -> RepoDiffView:
    try:
        with anyio.fail_after(timeout):
            entries = await gitops.status_short(host, path)
    except TimeoutError:
        return RepoDiffView(
            repo=repo, path=path, clean=False, error=f"git status timed out after {timeout:g}s"
        )
    except (HostError, OSError) as exc:
        return RepoDiffView(repo=repo, path=path, clean=False, error=_error_text(exc))
    insertions = deletions = None
    stat_error = None
    if base is not None:
        try:
            with anyio.fail_after(timeout):
                stat = await gitops.diff_stat(host, path, base)
            insertions, deletions = stat.insertions, stat.deletions
        except TimeoutError:
            stat_error = f"git diff timed out after {timeout:g}s"
        except (HostError, OSError, ValueError) as exc:
            stat_error = _error_text(exc)
    branch = None
    if branch_base is not None:
        try:
            with anyio.fail_after(timeout):
                branch = await branch_review(host, path, branch_base)
        except TimeoutError:
            branch = BranchView(base=branch_base, error=f"git log timed out after {timeout:g}s")
    return RepoDiffView(
        repo=repo,
        path=path,
        clean=not entries,
        files=len(entries),
        insertions=insertions,
        deletions=deletions,
        lines=[status_line(e) for e in entries[:MAX_DIFF_LINES]],
        stat_error=stat_error,
        branch=branch,
    )
