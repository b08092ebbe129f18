"""Review material: what a workspace branch would bring to its base, per repo.

Used by ``status`` (the commits ahead of the base and a diffstat, beside the uncommitted
changes) and by ``merge --dry-run`` (the same commits, and the conflicts ``git merge-tree``
predicts). Everything runs through a :class:`~metawsm.hosts.base.Host` and only reads: no ref
moves, no work tree or index is touched (``merge-tree --write-tree`` writes objects only).

The base is the clone's local base branch (``refs/heads/<base>``, where ``merge`` lands), or
whatever ``<base>`` names in the repository when there is no such branch. It is resolved to a
commit id first, so nothing from input is read as an option.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metawsm.hosts import git as gitops
from metawsm.hosts.base import Host
from metawsm.hosts.errors import CommandFailed, HostError
from metawsm.status.views import (
    MAX_COMMIT_LINES,
    MAX_STAT_FILES,
    BranchView,
    CommitView,
    FileStatView,
)

__all__ = ["RepoPreview", "base_commit", "branch_review", "preview_repo"]


def _error_text(exc: Exception) -> str:
    if isinstance(exc, CommandFailed):
        lines = [line.strip() for line in exc.stderr.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return str(exc) or type(exc).__name__


async def base_commit(host: Host, repo: str, base: str) -> str | None:
    """The commit the base branch points at, seen from ``repo``: the local branch first."""
    name = base.strip().removeprefix("origin/")
    if not name:
        return None
    local = await gitops.rev_parse(host, repo, f"refs/heads/{name}")
    return local if local is not None else await gitops.rev_parse(host, repo, base.strip())


async def branch_review(host: Host, repo: str, base: str) -> BranchView:
    """Commits of ``repo``'s HEAD that ``base`` lacks, and the diffstat of ``base...HEAD``.

    Errors are reported in the view (``error``), never raised.
    """
    try:
        base_sha = await base_commit(host, repo, base)
        if base_sha is None:
            return BranchView(base=base, error=f'base branch "{base}" not found')
        ahead, commits = await gitops.commits_between(
            host, repo, base_sha, "HEAD", limit=MAX_COMMIT_LINES
        )
        changes = await gitops.diff_files(host, repo, base_sha, "HEAD")
    except (HostError, OSError, ValueError) as exc:
        return BranchView(base=base, error=_error_text(exc))
    return BranchView(
        base=base,
        ahead=ahead,
        commits=[CommitView(sha=c.sha, subject=c.subject) for c in commits],
        files=len(changes),
        insertions=sum(c.insertions or 0 for c in changes),
        deletions=sum(c.deletions or 0 for c in changes),
        stat=[
            FileStatView(path=c.path, insertions=c.insertions, deletions=c.deletions)
            for c in changes[:MAX_STAT_FILES]
        ],
    )


@dataclass(frozen=True, slots=True)
class RepoPreview:
    """What merging one repo's workspace branch into its base would do.

    ``status``: ``would_merge`` (``commits`` land, no conflict), ``up_to_date`` (nothing to
    merge), ``conflict`` (``conflicts`` names the files; nothing would merge in the workspace)
    or ``error`` (``error`` says why it could not be predicted).
    """

    repo: str
    base: str
    status: str
    ahead: int = 0
    commits: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    error: str = ""


async def preview_repo(host: Host, repo: str, worktree: str, base: str) -> RepoPreview:
    """Predict the merge of ``worktree``'s HEAD into ``base`` (see :class:`RepoPreview`)."""
    try:
        base_sha = await base_commit(host, worktree, base)
        if base_sha is None:
            return RepoPreview(repo, base, "error", error=f'base branch "{base}" not found')
        head = await gitops.rev_parse(host, worktree, "HEAD")
        if head is None:
            return RepoPreview(repo, base, "error", error="the worktree has no commit")
        ahead, commits = await gitops.commits_between(
            host, worktree, base_sha, head, limit=MAX_COMMIT_LINES
        )
        lines = [f"{c.sha} {c.subject}" for c in commits]
        if ahead == 0 or await gitops.is_ancestor(host, worktree, head, base_sha):
            return RepoPreview(repo, base, "up_to_date")
        tree = await gitops.merge_tree(host, worktree, base_sha, head)
    except (HostError, OSError, ValueError) as exc:
        return RepoPreview(repo, base, "error", error=_error_text(exc))
    if not tree.clean:
        return RepoPreview(repo, base, "conflict", ahead, lines, list(tree.conflicts))
    return RepoPreview(repo, base, "would_merge", ahead, lines)
