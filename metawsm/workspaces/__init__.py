"""Workspaces: one folder per ticket and run, holding a git worktree per repo.

:class:`WorkspaceProvider` is the interface; :class:`GitWorkspaceProvider` (built in, the
default) and :class:`WsmWorkspaceProvider` (the workspace-manager CLI) implement it. Errors are
in :mod:`metawsm.workspaces.errors`.
"""

from metawsm.workspaces.base import Workspace, WorkspaceProvider
from metawsm.workspaces.errors import (
    BaseBranchNotFound,
    BranchExists,
    DirtyBase,
    RepoNotFound,
    WorkspaceDirty,
    WorkspaceError,
    WorkspaceExists,
    WorkspaceNotFound,
)
from metawsm.workspaces.git import GitWorkspaceProvider
from metawsm.workspaces.wsm import WsmWorkspaceProvider

__all__ = [
    "BaseBranchNotFound",
    "BranchExists",
    "DirtyBase",
    "GitWorkspaceProvider",
    "RepoNotFound",
    "Workspace",
    "WorkspaceDirty",
    "WorkspaceError",
    "WorkspaceExists",
    "WorkspaceNotFound",
    "WorkspaceProvider",
    "WsmWorkspaceProvider",
]
