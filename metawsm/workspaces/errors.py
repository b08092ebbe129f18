"""Errors of workspace providers.

Each one says what is wrong and where, with a hint naming the fix; none leaves a half-made
workspace behind (a failing create undoes what it made before raising).

::

    WorkspaceError (MetawsmError)        a workspace could not be created, found or deleted
    ├── WorkspaceNotFound (+NotFoundError)   reuse, fork or info of a name that has no record
    ├── WorkspaceExists                  the workspace folder or record exists; nothing touched
    ├── WorkspaceDirty                   delete refused: a worktree has uncommitted or new files
    ├── RepoNotFound                     a repo name that is not configured, or whose clone is
    │                                    missing or not a git repository
    ├── BaseBranchNotFound               neither origin/<base> nor <base> exists in a clone
    ├── DirtyBase                        the clone's base branch is mid merge/rebase/cherry-pick
    └── BranchExists                     the workspace branch exists at another commit
"""

from __future__ import annotations

from collections.abc import Sequence

from metawsm.errors import MetawsmError, NotFoundError


class WorkspaceError(MetawsmError):
    """A workspace could not be created, found or deleted."""


class WorkspaceNotFound(WorkspaceError, NotFoundError):
    """No workspace of that name is recorded."""

    def __init__(self, name: str, *, hint: str | None = None) -> None:
        super().__init__(
            f'workspace "{name}" not found',
            hint=hint or "check the name, or create it (workspace.default_strategy create)",
        )
        self.name = name


class WorkspaceExists(WorkspaceError):
    """The workspace's folder (or wsm record) exists already; it was left untouched."""

    def __init__(self, name: str, path: str, *, recorded: bool) -> None:
        if recorded:
            message = f'workspace "{name}" already exists at {path}'
            hint = "reuse it (strategy reuse), delete it first, or pick another name"
        else:
            message = f"{path} already exists and is not a workspace metawsm recorded"
            hint = "metawsm never overwrites it: move it away or pick another workspace name"
        super().__init__(message, hint=hint)
        self.name = name
        self.path = path
        self.recorded = recorded


class WorkspaceDirty(WorkspaceError):
    """Deleting would discard uncommitted or untracked work."""

    def __init__(self, name: str, repos: Sequence[str]) -> None:
        super().__init__(
            f'workspace "{name}" has uncommitted or untracked files in {", ".join(repos)}',
            hint="commit or discard them first, or delete with force to discard them",
        )
        self.name = name
        self.repos = tuple(repos)


class RepoNotFound(WorkspaceError):
    """A repo the run names is not configured, or its clone is missing or not a git repo."""

    def __init__(self, repo: str, message: str, *, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.repo = repo


class BaseBranchNotFound(WorkspaceError):
    """The base branch exists neither as ``origin/<base>`` nor as ``<base>`` in a clone."""

    def __init__(self, base: str, repo_path: str) -> None:
        super().__init__(
            f'base branch "{base}" not found for repo {repo_path}',
            hint="set workspace.base_branch in the policy (or --base-branch) to a branch it has",
        )
        self.base = base
        self.repo_path = repo_path


class DirtyBase(WorkspaceError):
    """The clone's base branch is in the middle of a merge, rebase, cherry-pick or revert.

    Only raised when the workspace would start from the *local* base branch (there is no
    ``origin/<base>``): its tip is about to be rewritten, so a worktree cut now would start
    from a commit the operator is replacing. Plain uncommitted changes in the clone are not an
    error: worktrees are cut from the committed base, so those changes never reach a workspace.
    """

    def __init__(self, base: str, repo: str, repo_path: str, operation: str) -> None:
        super().__init__(
            f'base branch "{base}" of repo {repo} ({repo_path}) is in the middle of a {operation}',
            hint=f"finish or abort the {operation} in {repo_path}, then retry",
        )
        self.base = base
        self.repo = repo
        self.repo_path = repo_path
        self.operation = operation


class BranchExists(WorkspaceError):
    """The workspace branch exists already and does not point at the start commit."""

    def __init__(self, branch: str, repo: str, repo_path: str, detail: str) -> None:
        super().__init__(
            f'branch "{branch}" already exists in repo {repo} ({repo_path}) {detail}',
            hint="pick another workspace name; metawsm never resets a branch that may hold work",
        )
        self.branch = branch
        self.repo = repo
        self.repo_path = repo_path
