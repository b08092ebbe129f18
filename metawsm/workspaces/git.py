"""The built-in ``git`` workspace provider: one ``git worktree`` per repo, no other tool needed.

Layout (the same as wsm's, docmgr-wsm-contracts.md §D.2)::

    <root>/<workspace>/<repo>                   a worktree of the repo's clone, on <branch>
    <root>/<workspace>/.metawsm/workspace.json  the record (written last, removed last)

Decisions, each kept from or made against the original (original-metawsm.md §5.3, §12):

- **Start point.** ``git fetch origin <base>`` first (failures ignored, as the original), then
  ``origin/<base>`` if that ref exists, else the local ``<base>``, else
  :class:`~metawsm.workspaces.errors.BaseBranchNotFound`. The worktree is cut from that commit
  directly, which is what the original reached by ``wsm create`` + ``reset --hard`` (its f3fbf72
  fix for workspaces that started from the clone's HEAD). The new branch gets no upstream.
- **Dirty base.** Worktrees are cut from a committed ref, so uncommitted changes in the clone
  never leak into a workspace and are not an error. What is refused
  (:class:`~metawsm.workspaces.errors.DirtyBase`) is cutting from a *local* base branch that the
  clone is in the middle of rewriting (merge, rebase, cherry-pick, revert).
- **Branch exists.** A branch of the workspace's name that already points at the start commit
  (nothing was done on it, e.g. after a delete, which keeps branches) is checked out as is.
  At any other commit it may hold work: :class:`~metawsm.workspaces.errors.BranchExists`.
- **All or nothing.** Every repo is checked before anything is made; if making repo 2 of 3
  fails (or the call is cancelled), the worktrees and branches this call made are removed
  before the error propagates, so no half-made workspace is left unrecorded.
- **Never clobber.** The workspace folder is claimed with an atomic ``mkdir``; if it exists
  (recorded or not), :class:`~metawsm.workspaces.errors.WorkspaceExists` and nothing is touched.
- **Delete keeps branches.** ``delete`` removes worktrees and the record but never a branch:
  committed work stays reachable in the clone. Without ``force`` it refuses dirty worktrees.
- ``.metawsm/`` is added to each clone's ``info/exclude`` (shared by its worktrees), so signal
  files agents write inside a worktree never make it dirty.
- **Merge** is :func:`metawsm.workspaces.merge.merge_workspace` into the recorded base branch of
  the clones recorded in the manifest (where the branch lives, even if the policy's
  ``workspace.repos`` has changed since): all repos or none, never a half-merge, the workspace kept.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from pydantic import BaseModel, ConfigDict, ValidationError

from metawsm.errors import UsageError
from metawsm.hosts import git as gitops
from metawsm.hosts.base import Host
from metawsm.hosts.errors import HostError
from metawsm.naming import normalize_tokens, validate_name
from metawsm.workspaces.base import Workspace, require_complete
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
from metawsm.workspaces.merge import RepoMerge, merge_workspace

__all__ = ["MANIFEST", "GitWorkspaceProvider", "WorkspaceManifest"]

MANIFEST = ".metawsm/workspace.json"
"""Where a workspace's record lives, relative to the workspace folder."""

_UNDO_TIMEOUT = 60.0


class ManifestRepo(BaseModel):
    """One repo of a recorded workspace."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    clone: str
    path: str
    start_commit: str


class WorkspaceManifest(BaseModel):
    """``<workspace>/.metawsm/workspace.json``: what the git provider made."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int = 1
    name: str
    branch: str
    base_branch: str
    repos: dict[str, ManifestRepo]
    created_at: str
    forked_from: str | None = None


@dataclass(frozen=True, slots=True)
class _RepoPlan:
    repo: str
    clone: str
    worktree: str
    start_commit: str
    branch_exists: bool


class GitWorkspaceProvider:
    """Workspaces made of ``git worktree`` checkouts of the clones the policy names.

    ``root`` is the workspaces folder (``workspace.root``) and ``repos`` maps each repo name to
    its clone (``workspace.repos``), both absolute paths on ``host``.
    """

    def __init__(self, host: Host, root: str, repos: Mapping[str, str]) -> None:
        for path in (root, *repos.values()):
            if not posixpath.isabs(path):
                raise ValueError(f"workspace paths must be absolute, got {path!r}")
        self._host = host
        self._root = posixpath.normpath(root)
        self._repos = {name: posixpath.normpath(path) for name, path in repos.items()}

    @property
    def kind(self) -> str:
        return "git"

    @property
    def host(self) -> Host:
        return self._host

    def path_of(self, name: str) -> str:
        """The folder workspace ``name`` lives in (whether or not it exists)."""
        return posixpath.join(self._root, validate_name("workspace", name))

    # ------------------------------------------------------------------------------ create

    async def create(
        self, name: str, repos: Sequence[str], branch: str, base_branch: str
    ) -> Workspace:
        ws_root = self.path_of(name)
        names = normalize_tokens(repos)
        if not names:
            raise UsageError("at least one repo is required to create a workspace")
        for repo in names:
            validate_name("repo", repo)
        base = base_branch.strip().removeprefix("origin/")
        if not base:
            raise UsageError("the base branch cannot be empty")
        if not branch.strip():
            raise UsageError("the workspace branch cannot be empty")
        await self._refuse_existing(name, ws_root)  # early, before any fetch; _claim decides
        plans = [await self._plan_create(ws_root, repo, branch, base) for repo in names]
        return await self._materialize(name, ws_root, plans, branch, base, forked_from=None)

    async def _plan_create(self, ws_root: str, repo: str, branch: str, base: str) -> _RepoPlan:
        clone = await self._clone_of(repo)
        if await gitops.has_remote(self._host, clone, "origin"):
            await gitops.fetch(self._host, clone, "origin", base)
        start = await gitops.rev_parse(self._host, clone, f"refs/remotes/origin/{base}")
        if start is None:
            start = await gitops.rev_parse(self._host, clone, f"refs/heads/{base}")
            if start is None:
                raise BaseBranchNotFound(base, clone)
            busy = await gitops.operation_in_progress(self._host, clone)
            if busy is not None and busy.branch == base:
                raise DirtyBase(base, repo, clone, busy.operation)
        return await self._plan(ws_root, repo, clone, branch, start)

    async def _clone_of(self, repo: str) -> str:
        clone = self._repos.get(repo)
        if clone is None:
            known = ", ".join(sorted(self._repos)) or "none"
            raise RepoNotFound(
                repo,
                f'repo "{repo}" is not configured (workspace.repos has: {known})',
                hint=f'add "{repo}": "<path of its clone>" to workspace.repos in the policy',
            )
        stat = await self._host.stat(clone)
        if stat is None or not stat.is_dir:
            raise RepoNotFound(
                repo,
                f'repo "{repo}": clone {clone} not found on {self._host.name}',
                hint=f"clone it there, or fix workspace.repos.{repo} in the policy",
            )
        if not await gitops.is_repo(self._host, clone):
            raise RepoNotFound(
                repo,
                f'repo "{repo}": {clone} is not the top of a git repository',
                hint=f"point workspace.repos.{repo} at the clone's top folder",
            )
        return clone

    async def _plan(
        self, ws_root: str, repo: str, clone: str, branch: str, start: str
    ) -> _RepoPlan:
        existing = await gitops.rev_parse(self._host, clone, f"refs/heads/{branch}")
        if existing is not None and existing != start:
            raise BranchExists(
                branch, repo, clone, f"at {existing[:12]}, not at the start commit {start[:12]}"
            )
        worktree = posixpath.join(ws_root, repo)
        return _RepoPlan(repo, clone, worktree, start, branch_exists=existing is not None)

    async def _materialize(
        self,
        name: str,
        ws_root: str,
        plans: list[_RepoPlan],
        branch: str,
        base: str,
        forked_from: str | None,
    ) -> Workspace:
        await self._claim(name, ws_root)
        made: list[_RepoPlan] = []
        try:
            for plan in plans:
                await self._add_worktree(name, plan, branch)
                made.append(plan)
                await gitops.add_exclude(self._host, plan.worktree)
            manifest = WorkspaceManifest(
                name=name,
                branch=branch,
                base_branch=base,
                repos={
                    p.repo: ManifestRepo(
                        clone=p.clone, path=p.worktree, start_commit=p.start_commit
                    )
                    for p in plans
                },
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                forked_from=forked_from,
            )
            await self._host.write_bytes_atomic(
                posixpath.join(ws_root, MANIFEST),
                (manifest.model_dump_json(indent=2) + "\n").encode(),
            )
        except BaseException:
            with anyio.move_on_after(_UNDO_TIMEOUT, shield=True):
                await self._undo(ws_root, made, branch)
            raise
        return self._workspace(manifest, ws_root)

    async def _refuse_existing(self, name: str, ws_root: str) -> None:
        if await self._host.stat(ws_root) is not None:
            recorded = await self._host.stat(posixpath.join(ws_root, MANIFEST)) is not None
            raise WorkspaceExists(name, ws_root, recorded=recorded)

    async def _claim(self, name: str, ws_root: str) -> None:
        """Make the workspace folder; an atomic mkdir, so two creates cannot both own it."""
        await self._host.makedirs(self._root)
        claimed = await self._host.run(["mkdir", "--", ws_root])
        if claimed.ok:
            return
        await self._refuse_existing(name, ws_root)
        raise WorkspaceError(
            f"cannot create {ws_root} on {self._host.name}: {claimed.stderr.strip()}",
            hint="check that the workspaces root (workspace.root) is writable",
        )

    async def _add_worktree(self, name: str, plan: _RepoPlan, branch: str) -> None:
        try:
            await gitops.worktree_add(
                self._host,
                plan.clone,
                plan.worktree,
                branch=branch,
                start_point=None if plan.branch_exists else plan.start_commit,
            )
        except HostError as exc:
            raise WorkspaceError(
                f'workspace "{name}": cannot add the worktree of repo {plan.repo}: {exc.message}',
                hint=f"see `git -C {plan.clone} worktree list`; nothing of this workspace was kept",
            ) from exc

    async def _undo(self, ws_root: str, made: list[_RepoPlan], branch: str) -> None:
        """Remove what a failed create made; every step is best effort."""
        for plan in reversed(made):
            with contextlib.suppress(HostError):
                await gitops.worktree_remove(self._host, plan.clone, plan.worktree, force=True)
            with contextlib.suppress(HostError):
                await gitops.worktree_prune(self._host, plan.clone)
            if not plan.branch_exists:  # made by this call, so it holds no work
                with contextlib.suppress(HostError):
                    await gitops.branch_delete(self._host, plan.clone, branch, force=True)
        await self._tidy(ws_root)

    async def _tidy(self, ws_root: str) -> None:
        """Remove the workspace's own ``.metawsm`` folder, then the folder if it is empty."""
        await self._host.run(["rm", "-rf", "--", posixpath.join(ws_root, ".metawsm")])
        await self._host.run(["rmdir", "--", ws_root])

    # -------------------------------------------------------------------------------- fork

    async def fork(self, name: str, source: str, branch: str) -> Workspace:
        ws_root = self.path_of(name)
        if not branch.strip():
            raise UsageError("the workspace branch cannot be empty")
        src = await self._manifest(source)
        if src is None:
            raise WorkspaceNotFound(source, hint="fork needs an existing source workspace")
        await self._refuse_existing(name, ws_root)
        plans: list[_RepoPlan] = []
        for repo, entry in src.repos.items():
            head = await gitops.rev_parse(self._host, entry.clone, f"refs/heads/{src.branch}")
            if head is None:
                raise WorkspaceError(
                    f'branch "{src.branch}" of workspace "{source}" is gone from {entry.clone}',
                    hint=f'the source workspace is broken; delete "{source}" or restore the branch',
                )
            plans.append(await self._plan(ws_root, repo, entry.clone, branch, head))
        return await self._materialize(name, ws_root, plans, branch, src.branch, source)

    # ------------------------------------------------------------------------- info, reuse

    async def info(self, name: str) -> Workspace | None:
        manifest = await self._manifest(name)
        return None if manifest is None else self._workspace(manifest, self.path_of(name))

    async def reuse(self, name: str) -> Workspace:
        return await require_complete(self._host, name, await self.info(name))

    async def _manifest(self, name: str) -> WorkspaceManifest | None:
        path = posixpath.join(self.path_of(name), MANIFEST)
        try:
            data = await self._host.read_bytes(path, limit=1_000_000)
        except FileNotFoundError:
            return None
        try:
            return WorkspaceManifest.model_validate_json(data)
        except ValidationError as exc:
            raise WorkspaceError(
                f"workspace record {path} is unreadable: {exc.errors()[0]['msg']}",
                hint="restore it, or remove the workspace folder by hand",
            ) from exc

    def _workspace(self, manifest: WorkspaceManifest, ws_root: str) -> Workspace:
        return Workspace(
            name=manifest.name,
            root=ws_root,
            repos={repo: entry.path for repo, entry in manifest.repos.items()},
            branch=manifest.branch,
            base_branch=manifest.base_branch,
            host=self._host.name,
            provider=self.kind,
        )

    # ------------------------------------------------------------------------------ delete

    async def delete(self, name: str, *, force: bool = False) -> bool:
        ws_root = self.path_of(name)
        manifest = await self._manifest(name)
        if manifest is None:
            # Nothing recorded: at most the empty leftovers of an interrupted delete, which
            # rmdir removes; anything else in the folder is not ours and stays.
            await self._host.run(["rmdir", "--", posixpath.join(ws_root, ".metawsm")])
            await self._host.run(["rmdir", "--", ws_root])
            return False
        present = {
            repo: entry
            for repo, entry in manifest.repos.items()
            if await self._host.stat(entry.path) is not None
        }
        if not force:
            dirty = [
                repo
                for repo, entry in present.items()
                if await gitops.is_dirty(self._host, entry.path)
            ]
            if dirty:
                raise WorkspaceDirty(name, dirty)
        for repo, entry in manifest.repos.items():
            await self._remove_worktree(name, repo, entry, force=force, present=repo in present)
        await self._tidy(ws_root)
        return True

    async def _remove_worktree(
        self, name: str, repo: str, entry: ManifestRepo, *, force: bool, present: bool
    ) -> None:
        try:
            if present and not await gitops.worktree_remove(
                self._host, entry.clone, entry.path, force=force
            ):
                raise WorkspaceError(
                    f'workspace "{name}": {entry.path} is not a worktree of {entry.clone}',
                    hint="metawsm will not remove it; move it away by hand and delete again",
                )
            if await self._host.stat(entry.clone) is not None:
                await gitops.worktree_prune(self._host, entry.clone)
        except HostError as exc:
            raise WorkspaceError(
                f'workspace "{name}": cannot remove the worktree of {repo}: {exc.message}',
                hint="fix the cause and delete again (the record stays until no worktree is left)",
            ) from exc

    # ------------------------------------------------------------------------------- merge

    async def merge(self, name: str) -> list[RepoMerge]:
        manifest = await self._manifest(name)
        if manifest is None:
            raise WorkspaceNotFound(name, hint="merge needs an existing workspace")
        workspace = await require_complete(
            self._host, name, self._workspace(manifest, self.path_of(name))
        )
        clones = {repo: entry.clone for repo, entry in manifest.repos.items()}
        return await merge_workspace(self._host, workspace, clones, manifest.base_branch)
