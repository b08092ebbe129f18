"""The ``wsm`` workspace provider: the workspace-manager CLI does the worktrees.

Written against the recorded contract (docmgr-wsm-contracts.md §D; section numbers below), and
against the mistakes the original made with it (§F, "integration bugs worth not copying"):

- The record is ``<UserConfigDir>/workspace-manager/workspaces/<name>.json`` (§D.1); its
  ``path`` locates the workspace and each worktree is ``<path>/<repositories[i].name>``.
  ``info`` and ``reuse`` read it directly, as the original's ``resolveWorkspacePath`` did.
  UserConfigDir is that of the *host* (``$XDG_CONFIG_HOME`` or ``~/.config``; macOS
  ``~/Library/Application Support``), asked for once through the host.
- wsm prompts in three places and has no flag for one of them (§D.8). So: ``delete`` always
  gets ``--force``; ``create``/``fork`` are only called once metawsm has checked that the
  branch exists neither locally nor on origin (the case wsm would prompt on, §D.3); wsm runs
  with stdin closed, under ``setsid`` where the host has it (no controlling terminal, so a
  prompt fails at once instead of taking over a terminal) and within a timeout.
- ``create`` passes ``--base-branch`` (without it wsm branches from the clone's HEAD, §D.3),
  then aligns each worktree to ``origin/<base>`` (or ``<base>``) exactly as the original's
  f3fbf72 fix did: fetch first, ``reset --hard`` the fresh worktree.
- wsm overwrites an existing record silently (§D.3): an existing record is refused first.
- ``fork`` always names its source (§D.4: without one wsm guesses from the cwd).
- ``delete`` of an unknown name is success (``False``): the record is checked first, and wsm's
  own "workspace ... not found" error is accepted too (§D.5). A zero exit that kept the record
  is an error (cancelling exits 0). wsm never deletes branches; neither does this provider.
- ``merge`` runs ``wsm merge <name> --force --keep-workspace`` (§D.6): ``--force`` because the
  confirmation prompt has no other flag (it also lets unclean repos through, so metawsm
  refuses a dirty worktree itself first, as ``delete`` does), ``--keep-workspace`` because a
  merge must not delete the workspace (wsm would, with ``--force-worktrees``). Repos whose
  branch is already in ``<base>`` or ``origin/<base>`` report ``up_to_date``; when all do,
  wsm is not called. What wsm itself does is its business: it checks ``<base>`` out in each
  worktree (failing when the clone has it checked out), pulls, merges and pushes, and leaves
  the worktree on ``<base>``. Unlike the ``git`` provider this is not all-or-nothing: wsm's
  rollback resets earlier repos but cannot unpush them.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from metawsm.errors import UsageError
from metawsm.hosts import git as gitops
from metawsm.hosts.base import CommandResult, Host
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
from metawsm.workspaces.merge import MergeBlocked, MergeError, MergeStatus, RepoMerge

__all__ = ["WsmWorkspaceProvider"]

DEFAULT_TIMEOUT = 300.0
"""Seconds one wsm command may take (a create fetches nothing but checks out every repo)."""


class _WsmRepo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    path: str = ""


class _WsmRecord(BaseModel):
    """The keys of wsm's workspace JSON that metawsm reads (§D.1)."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    path: str = ""
    repositories: list[_WsmRepo] | None = None
    branch: str = ""
    base_branch: str = ""


class _WsmRegistry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    repositories: list[_WsmRepo] | None = Field(default=None)


@dataclass(frozen=True, slots=True)
class _Clone:
    repo: str
    path: str
    start: str  # the commit the worktree must start at: origin/<base>, else <base>
    has_local_base: bool
    has_remote_base: bool


class WsmWorkspaceProvider:
    """Workspaces made by the ``wsm`` CLI on ``host``.

    ``config_dir`` overrides the host's UserConfigDir (the folder holding ``workspace-manager/``).
    """

    def __init__(
        self,
        host: Host,
        wsm_binary: str = "wsm",
        *,
        config_dir: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._host = host
        self._wsm = wsm_binary
        self._config_dir = config_dir
        self._timeout = timeout
        self._prefix: list[str] | None = None

    @property
    def kind(self) -> str:
        return "wsm"

    @property
    def host(self) -> Host:
        return self._host

    # ----------------------------------------------------------------------- host facts

    async def _user_config_dir(self) -> str:
        if self._config_dir is None:
            system = (await self._host.run(["uname", "-s"], check=True)).stdout.strip()
            env_out = (await self._host.run(["env"], check=True)).stdout
            env = dict(line.partition("=")[::2] for line in env_out.splitlines() if "=" in line)
            home = env.get("HOME", "")
            xdg = env.get("XDG_CONFIG_HOME", "")
            if system == "Darwin" and home:
                self._config_dir = posixpath.join(home, "Library", "Application Support")
            elif xdg and posixpath.isabs(xdg):
                self._config_dir = xdg
            elif home:
                self._config_dir = posixpath.join(home, ".config")
            else:
                raise WorkspaceError(
                    f"cannot locate wsm's config folder on {self._host.name}: HOME is not set"
                )
        return posixpath.join(self._config_dir, "workspace-manager")

    async def _record_path(self, name: str) -> str:
        return posixpath.join(await self._user_config_dir(), "workspaces", f"{name}.json")

    async def _run(self, *args: str, stdin: bytes | None = None) -> CommandResult:
        if self._prefix is None:
            # setsid: no controlling terminal, so a wsm prompt fails instead of blocking (§D.8).
            probe = await self._host.run(["setsid", "-w", "true"], timeout=10)
            self._prefix = ["setsid", "-w"] if probe.ok else []
        argv = [*self._prefix, self._wsm, *args]
        result = await self._host.run(argv, timeout=self._timeout, stdin=stdin)
        if result.returncode == 127:  # the shell convention (and setsid's) for "no such command"
            raise WorkspaceError(
                f"{self._wsm} is not installed on {self._host.name}",
                hint="install workspace-manager, or set workspace.provider to git",
            )
        return result

    @staticmethod
    def _failure(result: CommandResult) -> str:
        lines = [ln.strip() for ln in (result.stderr + "\n" + result.stdout).splitlines()]
        errors = [ln.removeprefix("✗ Error:").strip() for ln in lines if "Error:" in ln]
        tail = [ln for ln in lines if ln]
        return errors[0] if errors else (tail[-1] if tail else "no output")

    # ----------------------------------------------------------------------------- read

    async def _record(self, name: str) -> _WsmRecord | None:
        path = await self._record_path(validate_name("workspace", name))
        try:
            data = await self._host.read_bytes(path, limit=10_000_000)
        except FileNotFoundError:
            return None
        try:
            record = _WsmRecord.model_validate_json(data)
        except ValidationError as exc:
            raise WorkspaceError(
                f"parse workspace config {path}: {exc.errors()[0]['msg']}"
            ) from exc
        if not record.path:
            raise WorkspaceError(f"workspace config missing path: {path}")
        return record

    def _workspace(self, name: str, record: _WsmRecord) -> Workspace:
        return Workspace(
            name=name,
            root=record.path,
            repos={r.name: posixpath.join(record.path, r.name) for r in record.repositories or []},
            branch=record.branch,
            base_branch=record.base_branch,
            host=self._host.name,
            provider=self.kind,
        )

    async def info(self, name: str) -> Workspace | None:
        record = await self._record(name)
        return None if record is None else self._workspace(name, record)

    async def reuse(self, name: str) -> Workspace:
        return await require_complete(self._host, name, await self.info(name))

    async def _registry(self) -> dict[str, list[str]]:
        path = posixpath.join(await self._user_config_dir(), "registry.json")
        try:
            data = await self._host.read_bytes(path, limit=50_000_000)
        except FileNotFoundError:
            return {}  # a missing registry is an empty one (§D.1)
        try:
            registry = _WsmRegistry.model_validate_json(data)
        except ValidationError as exc:
            raise WorkspaceError(f"parse wsm registry {path}: {exc.errors()[0]['msg']}") from exc
        clones: dict[str, list[str]] = {}
        for repo in registry.repositories or []:
            clones.setdefault(repo.name, []).append(repo.path)
        return clones

    # ---------------------------------------------------------------------------- create

    async def create(
        self, name: str, repos: Sequence[str], branch: str, base_branch: str
    ) -> Workspace:
        validate_name("workspace", name)
        names = [validate_name("repo", r) for r in normalize_tokens(repos)]
        if not names:
            raise UsageError("at least one repo is required to create a workspace")
        base = base_branch.strip().removeprefix("origin/")
        if not base:
            raise UsageError("the base branch cannot be empty")
        if not branch.strip():
            raise UsageError("the workspace branch cannot be empty")
        await self._refuse_existing(name)
        registry = await self._registry()
        clones: list[_Clone] = []
        for repo in names:
            clone = await self._resolve_base(repo, self._registered(registry, repo), base)
            await self._refuse_branch(repo, clone.path, branch)
            clones.append(clone)
        # wsm takes one --base-branch for every repo; the per-repo start is set by _align.
        if all(c.has_local_base for c in clones):
            base_arg = base
        elif all(c.has_remote_base for c in clones):
            base_arg = f"origin/{base}"
        else:
            lacking = next(c for c in clones if not c.has_local_base)
            raise BaseBranchNotFound(base, lacking.path)
        result = await self._run(
            "create", name, "--repos", ",".join(names), "--branch", branch,
            "--base-branch", base_arg,
        )  # fmt: skip
        if not result.ok:
            await self._forget_branches([c.path for c in clones], branch)
            raise WorkspaceError(
                f"wsm create {name} failed (exit {result.returncode}): {self._failure(result)}"
            )
        try:
            workspace = await self._created(name)
            for clone in clones:
                await self._align(workspace.repos[clone.repo], clone.start)
        except BaseException:
            with anyio.move_on_after(60, shield=True):
                with contextlib.suppress(HostError, WorkspaceError):
                    await self._run("delete", name, "--force")
                await self._forget_branches([c.path for c in clones], branch)
            raise
        return workspace

    def _registered(self, registry: dict[str, list[str]], repo: str) -> str:
        paths = registry.get(repo, [])
        if not paths:
            raise RepoNotFound(
                repo,
                f'repo "{repo}" is not in the wsm registry on {self._host.name}',
                hint="register its clone with `wsm discover <folder holding it>`",
            )
        if len(paths) > 1:
            raise WorkspaceError(
                f'repo "{repo}" is ambiguous in the wsm registry: {", ".join(paths)}',
                hint="wsm picks one of them at random; remove the extra clone from the registry",
            )
        return paths[0]

    async def _resolve_base(self, repo: str, clone: str, base: str) -> _Clone:
        if not await gitops.is_repo(self._host, clone):
            raise RepoNotFound(
                repo,
                f'repo "{repo}": registered clone {clone} is not a git repository',
                hint="run `wsm discover` again so the registry matches the disk",
            )
        if await gitops.has_remote(self._host, clone, "origin"):
            await gitops.fetch(self._host, clone, "origin", base)
        remote = await gitops.rev_parse(self._host, clone, f"refs/remotes/origin/{base}")
        local = await gitops.rev_parse(self._host, clone, f"refs/heads/{base}")
        start = remote or local
        if start is None:
            raise BaseBranchNotFound(base, clone)
        if remote is None:
            busy = await gitops.operation_in_progress(self._host, clone)
            if busy is not None and busy.branch == base:
                raise DirtyBase(base, repo, clone, busy.operation)
        return _Clone(repo, clone, start, local is not None, remote is not None)

    async def _refuse_branch(self, repo: str, clone: str, branch: str) -> None:
        # wsm would prompt (local) or silently start from it and we would reset it (remote).
        places = (
            (f"refs/heads/{branch}", "locally"),
            (f"refs/remotes/origin/{branch}", "on origin"),
        )
        for ref, where in places:
            sha = await gitops.rev_parse(self._host, clone, ref)
            if sha is not None:
                raise BranchExists(branch, repo, clone, f"{where} at {sha[:12]}")

    async def _refuse_existing(self, name: str) -> None:
        record = await self._record(name)
        if record is not None:
            raise WorkspaceExists(name, record.path, recorded=True)

    async def _created(self, name: str) -> Workspace:
        workspace = await self.info(name)
        if workspace is None:
            raise WorkspaceError(f"wsm reported workspace {name} created but wrote no record")
        for path in workspace.repos.values():
            await gitops.add_exclude(self._host, path)
        return workspace

    async def _align(self, worktree: str, target: str) -> None:
        """Put a fresh worktree exactly on the base commit, without an upstream."""
        try:
            head = await gitops.rev_parse(self._host, worktree, "HEAD")
            if head != target:
                await gitops.git(self._host, worktree, "reset", "--quiet", "--hard", target)
            await gitops.git(self._host, worktree, "branch", "--unset-upstream", check=False)
        except HostError as exc:
            raise WorkspaceError(f"reset repo {worktree} to {target[:12]}: {exc.message}") from exc

    async def _forget_branches(self, clones: Sequence[str], branch: str) -> None:
        """Delete the branch a failed create made (it was checked absent before)."""
        for clone in clones:
            with contextlib.suppress(HostError):
                await gitops.branch_delete(self._host, clone, branch, force=True)

    # ------------------------------------------------------------------------------ fork

    async def fork(self, name: str, source: str, branch: str) -> Workspace:
        validate_name("workspace", name)
        if not branch.strip():
            raise UsageError("the workspace branch cannot be empty")
        src = await self._record(source)
        if src is None:
            raise WorkspaceNotFound(source, hint="fork needs an existing source workspace")
        await self._refuse_existing(name)
        clones = [(r.name, r.path) for r in src.repositories or []]
        for repo, clone in clones:
            await self._refuse_branch(repo, clone, branch)
        result = await self._run("fork", name, source, "--branch", branch)
        if not result.ok:
            await self._forget_branches([c for _, c in clones], branch)
            raise WorkspaceError(
                f"wsm fork {name} {source} failed (exit {result.returncode}): "
                f"{self._failure(result)}"
            )
        return await self._created(name)

    # ---------------------------------------------------------------------------- delete

    async def delete(self, name: str, *, force: bool = False) -> bool:
        workspace = await self.info(name)
        if workspace is None:
            return False
        if not force:
            dirty = [
                repo
                for repo, path in workspace.repos.items()
                if await self._host.stat(path) is not None
                and await gitops.is_dirty(self._host, path)
            ]
            if dirty:
                raise WorkspaceDirty(name, dirty)
        args = ["delete", name, "--force"]
        stdin = None
        if force:
            # --force-worktrees still asks "proceed with <repo>? (y/N)" on stdin (§D.5).
            args.append("--force-worktrees")
            stdin = b"y\n" * len(workspace.repos)
        result = await self._run(*args, stdin=stdin)
        if not result.ok:
            output = (result.stdout + result.stderr).lower()
            if "workspace" in output and "not found" in output:
                return False
            raise WorkspaceError(
                f"wsm delete {name} failed (exit {result.returncode}): {self._failure(result)}",
                hint="the wsm record is kept; fix the cause and delete again",
            )
        if await self._record(name) is not None:
            raise WorkspaceError(f"wsm delete {name} exited 0 but kept the workspace record")
        return True

    # ----------------------------------------------------------------------------- merge

    async def merge(self, name: str) -> list[RepoMerge]:
        record = await self._record(name)
        if record is None:
            raise WorkspaceNotFound(name, hint="merge needs an existing workspace")
        workspace = await require_complete(self._host, name, self._workspace(name, record))
        base = record.base_branch.strip().removeprefix("origin/")
        if not base:
            raise MergeBlocked(
                f"workspace {name} has no base branch; wsm merges only workspaces made with one",
                hint="merge its branch by hand (wsm refuses: contracts §D.6)",
            )
        clones = {r.name: r.path for r in record.repositories or []}
        results: list[RepoMerge] = []
        for repo, worktree in workspace.repos.items():
            if await gitops.is_dirty(self._host, worktree):
                raise MergeBlocked(
                    f"workspace {name} repo {repo} has uncommitted changes; merge blocked",
                    hint=f"commit or discard the changes in {worktree}, then merge again",
                )
            merged = await self._contained(worktree, workspace.branch, base)
            status: MergeStatus = "up_to_date" if merged else "not_merged"
            results.append(
                RepoMerge(repo, clones.get(repo, worktree), workspace.branch, base, status)
            )
        if all(r.status == "up_to_date" for r in results):
            return results
        result = await self._run("merge", name, "--force", "--keep-workspace")
        if not result.ok:
            reason = f"wsm merge {name} failed (exit {result.returncode}): {self._failure(result)}"
            raise MergeError(
                reason,
                results=[
                    r if r.status == "up_to_date" else replace(r, status="failed", detail=reason)
                    for r in results
                ],
                hint="wsm resets the repos it merged before the failure, but cannot unpush them",
            )
        landed: list[RepoMerge] = []
        for entry in results:
            if entry.status == "up_to_date":
                landed.append(entry)
                continue
            worktree = workspace.repos[entry.repo]
            tip = await gitops.rev_parse(self._host, worktree, f"refs/heads/{base}")
            landed.append(replace(entry, status="merged", commit=tip))
        return landed

    async def _contained(self, worktree: str, branch: str, base: str) -> bool:
        """Whether ``branch`` is already in ``<base>`` or ``origin/<base>``."""
        tip = await gitops.rev_parse(self._host, worktree, f"refs/heads/{branch}")
        if tip is None:
            return False
        for ref in (f"refs/heads/{base}", f"refs/remotes/origin/{base}"):
            target = await gitops.rev_parse(self._host, worktree, ref)
            if target is not None and await gitops.is_ancestor(self._host, worktree, tip, target):
                return True
        return False
