"""The workspace provider interface and the workspace value it hands out.

A workspace is one folder holding one git worktree per repo, all on the same branch:
``<workspaces root>/<name>/<repo>`` (the layout wsm uses, docmgr-wsm-contracts.md §D.2).
Providers differ in who makes the worktrees and where the record lives:

- ``git`` (:mod:`metawsm.workspaces.git`): metawsm runs ``git worktree`` itself and keeps the
  record in ``<workspace>/.metawsm/workspace.json``;
- ``wsm`` (:mod:`metawsm.workspaces.wsm`): the workspace-manager CLI does, and its JSON under
  ``<UserConfigDir>/workspace-manager/workspaces/`` is the record.

Both run every command through a :class:`~metawsm.hosts.base.Host`, so a workspace on a remote
machine is made by the same code. Branches are never deleted by a provider's ``delete``: the
work on them outlives the workspace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from metawsm.hosts import git as gitops
from metawsm.hosts.base import Host
from metawsm.workspaces.errors import WorkspaceError, WorkspaceNotFound
from metawsm.workspaces.merge import RepoMerge

__all__ = ["Workspace", "WorkspaceProvider"]


@dataclass(frozen=True, slots=True)
class Workspace:
    """A provisioned workspace, as its provider recorded it."""

    name: str
    root: str
    """The workspace folder; each repo's worktree is ``<root>/<repo>``."""
    repos: Mapping[str, str]
    """Repo name -> path of its worktree, in the order the repos were given."""
    branch: str
    """The branch every worktree is on."""
    base_branch: str
    """What the branch was cut from: the base branch, or the source workspace's branch (fork)."""
    host: str
    """Name of the host the workspace lives on (``local`` or an SSH host from the policy)."""
    provider: str
    """``git`` or ``wsm``."""


class WorkspaceProvider(Protocol):
    """Makes, finds and removes workspaces. Every method is safe to retry.

    Errors are :class:`~metawsm.workspaces.errors.WorkspaceError` subclasses (bad names are
    :class:`~metawsm.errors.UsageError`); a failed ``create`` or ``fork`` leaves nothing behind.
    """

    @property
    def kind(self) -> str:
        """``git`` or ``wsm``."""
        ...

    @property
    def host(self) -> Host:
        """The host the workspaces live on."""
        ...

    async def create(
        self, name: str, repos: Sequence[str], branch: str, base_branch: str
    ) -> Workspace:
        """A new workspace: per repo a worktree on a new ``branch`` cut from the base.

        The start point is ``origin/<base_branch>`` after a fetch when the clone has that ref,
        else the local ``<base_branch>``. Refuses to touch an existing workspace folder.
        """
        ...

    async def fork(self, name: str, source: str, branch: str) -> Workspace:
        """A new workspace with the repos of ``source``, its branch cut from ``source``'s branch.

        Only committed work is carried over; the new workspace's ``base_branch`` is the source's
        branch.
        """
        ...

    async def reuse(self, name: str) -> Workspace:
        """An existing workspace, checked to be whole; ``WorkspaceNotFound`` if not recorded."""
        ...

    async def info(self, name: str) -> Workspace | None:
        """The recorded workspace, or ``None``."""
        ...

    async def delete(self, name: str, *, force: bool = False) -> bool:
        """Remove the worktrees and the record; ``False`` if there was nothing to delete.

        Without ``force`` a worktree with uncommitted or untracked files is refused
        (``WorkspaceDirty``) and nothing is removed. Branches are kept either way.
        """
        ...

    async def merge(self, name: str) -> list[RepoMerge]:
        """Merge the workspace's branch into its base branch in every repo; one result each.

        A worktree with uncommitted or untracked files is refused before anything is merged
        (:class:`~metawsm.workspaces.merge.MergeBlocked`); a repo already merged reports
        ``up_to_date``. ``WorkspaceNotFound`` if not recorded. The workspace itself is kept.
        The ``git`` provider merges all repos or none
        (:func:`~metawsm.workspaces.merge.merge_workspace`); ``wsm`` is bound by what
        ``wsm merge`` does (contracts §D.6).
        """
        ...


async def require_complete(host: Host, name: str, workspace: Workspace | None) -> Workspace:
    """``workspace`` if it exists and every repo's worktree is still there (what ``reuse``
    needs, whichever provider made it); else a clear error naming what is missing."""
    if workspace is None:
        raise WorkspaceNotFound(name)
    for repo, path in workspace.repos.items():
        if not await gitops.is_repo(host, path):
            raise WorkspaceError(
                f'workspace "{name}" is incomplete: the worktree of {repo} ({path}) is missing',
                hint="delete the workspace and create it again (branches are kept)",
            )
    return workspace
