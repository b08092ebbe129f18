"""Merging a workspace's branch into the base branch of each repo's clone: all or nothing.

The original ran ``wsm merge '<ws>'`` and took whatever happened (original-metawsm.md §5.4, §8;
contracts §D.6): wsm checks the base branch out *in the worktree* (which fails whenever the
clone has it checked out, i.e. almost always), pushes, rolls earlier repos back with
``reset --hard`` and deletes the workspace. :func:`merge_workspace` is what the ``git``
workspace provider does instead. The decisions:

- **Pre-flight, then land.** Every repo is checked before any ref moves: the worktree is
  clean and on the workspace branch, both branches exist in the clone, a checkout of the base
  branch is clean, and the merge itself is computed with ``git merge-tree --write-tree``
  (object store only, the algorithm ``git merge`` uses). If any repo conflicts, nothing is
  merged anywhere and :class:`MergeConflict` names the files of every conflicting repo. No
  merge is ever started in a work tree, so there is never a ``MERGE_HEAD`` or a half-merged
  file to abort.
- **Always a merge commit** (``--no-ff`` semantics): the tree merge-tree wrote is committed
  with ``git commit-tree -p <base> -p <branch>``, so the base's history records the workspace
  as one merge even when the base has not moved since the branch was cut.
- **Landing depends on where the base branch is checked out.** Nowhere: the branch ref is
  moved with ``git update-ref <base> <merge> <old base>``, a compare-and-swap, so no work tree
  is touched and no checkout of a big repo is paid for. In the clone (or any other worktree):
  that checkout must be clean (else :class:`MergeBlocked`) and is fast-forwarded to the merge
  commit with ``git merge --ff-only``, which updates its files too. Either way, if the base
  moved since the pre-flight, nothing lands in that repo and :class:`MergeError` says so,
  naming the repos that were already merged (those stay merged; run merge again, it is
  idempotent).
- **Nothing to merge** (the branch is already contained in the base, e.g. merged before) is
  reported as ``up_to_date``, not skipped silently; a second merge is therefore a no-op.
- **Identity.** Merge commits are authored with the operator's git identity (config or
  ``GIT_AUTHOR_*``/``GIT_COMMITTER_*``); for a clone with no ``user.name`` / ``user.email``
  configured anywhere, ``-c user.name=metawsm -c user.email=metawsm@localhost`` is passed
  (environment variables still win over both).
- **Local only.** The merge lands on the clone's *local* base branch; nothing is fetched or
  pushed. Publishing the base branch is the operator's decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from metawsm.errors import MetawsmError
from metawsm.hosts import git as gitops
from metawsm.hosts.base import Host
from metawsm.hosts.errors import HostError

if TYPE_CHECKING:  # the workspaces package imports this module
    from metawsm.workspaces.base import Workspace

__all__ = [
    "FALLBACK_IDENTITY",
    "MergeBlocked",
    "MergeConflict",
    "MergeError",
    "MergeStatus",
    "RepoMerge",
    "identity_config",
    "merge_workspace",
]

MergeStatus = Literal["merged", "up_to_date", "conflict", "not_merged", "failed"]

FALLBACK_IDENTITY: Mapping[str, str] = {"user.name": "metawsm", "user.email": "metawsm@localhost"}
"""The identity merge commits get in a clone that has none configured."""


@dataclass(frozen=True, slots=True)
class RepoMerge:
    """What merging one repo of a workspace did.

    ``status`` is one of:

    - ``merged``: ``commit`` (a new merge commit) is now the tip of ``base`` in ``clone``;
    - ``up_to_date``: ``branch`` was already contained in ``base``; nothing was written;
    - ``conflict``: ``branch`` and ``base`` conflict on ``files``; nothing was written;
    - ``not_merged``: this repo would merge cleanly, but another repo conflicted or failed
      first, so (all or nothing) it was left alone;
    - ``failed``: landing failed (``detail`` says why); nothing was written in this repo.
    """

    repo: str
    clone: str
    branch: str
    base: str
    status: MergeStatus
    commit: str | None = None
    files: tuple[str, ...] = ()
    detail: str = ""


class MergeError(MetawsmError):
    """A workspace could not be merged (fully). ``results`` says what happened in each repo
    (empty when the merge was refused before any repo was looked at)."""

    def __init__(
        self, message: str, *, results: Sequence[RepoMerge] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.results = tuple(results)

    @property
    def merged(self) -> tuple[str, ...]:
        """Repos whose merge landed before the failure (they stay merged)."""
        return tuple(r.repo for r in self.results if r.status == "merged")


class MergeBlocked(MergeError):
    """A pre-flight check refused the merge: nothing was merged in any repo."""


class MergeConflict(MergeError):
    """At least one repo conflicts: nothing was merged in any repo.

    ``results`` has a ``conflict`` entry (with the files) for every conflicting repo.
    """


@dataclass(frozen=True, slots=True)
class _Plan:
    repo: str
    clone: str
    worktree: str
    branch_tip: str
    base_tip: str
    checkout: str | None  # where the base branch is checked out, if anywhere
    up_to_date: bool


async def identity_config(host: Host, repo: str) -> list[str]:
    """``key=value`` settings for the parts of the identity ``repo`` lacks in its config."""
    missing: list[str] = []
    for key, value in FALLBACK_IDENTITY.items():
        if await gitops.config_get(host, repo, key) is None:
            missing.append(f"{key}={value}")
    return missing


async def merge_workspace(
    host: Host,
    workspace: Workspace,
    clones: Mapping[str, str],
    base_branch: str,
) -> list[RepoMerge]:
    """Merge ``workspace.branch`` into ``base_branch`` of the clone of every repo of the
    workspace (``clones``: repo name -> clone path on ``host``); see the module doc.

    Returns one :class:`RepoMerge` per repo (``merged`` or ``up_to_date``), in the
    workspace's repo order. Raises :class:`MergeBlocked` (a pre-flight check failed),
    :class:`MergeConflict` (nothing merged) or :class:`MergeError` (a landing failed after
    earlier repos were merged; ``results`` and :attr:`MergeError.merged` say which).
    """
    base = base_branch.strip().removeprefix("origin/")
    if not base:
        raise MergeBlocked(f"workspace {workspace.name} has no base branch to merge into")
    plans = [
        await _preflight(host, workspace, repo, worktree, clones, base)
        for repo, worktree in workspace.repos.items()
    ]
    trees: dict[str, gitops.MergeTreeResult] = {}
    for plan in plans:
        if not plan.up_to_date:
            trees[plan.repo] = await _merge_tree(host, workspace, plan, base)
    conflicting = [repo for repo, tree in trees.items() if not tree.clean]
    if conflicting:
        results = [_preflight_result(workspace, base, plan, trees.get(plan.repo)) for plan in plans]
        detail = "; ".join(f"{repo} ({', '.join(trees[repo].conflicts)})" for repo in conflicting)
        raise MergeConflict(
            f"workspace {workspace.name} cannot be merged into {base}: conflicts in {detail}; "
            "nothing was merged",
            results=results,
            hint=f"merge {base} into {workspace.branch} in the workspace, resolve and commit "
            "the conflicts there, then merge again",
        )
    results = [_preflight_result(workspace, base, plan, trees.get(plan.repo)) for plan in plans]
    for index, plan in enumerate(plans):
        if plan.up_to_date:
            continue
        try:
            results[index] = await _land(host, workspace, plan, base, trees[plan.repo].tree)
        except (HostError, MergeError) as exc:
            reason = exc.message
            results[index] = replace(results[index], status="failed", detail=reason)
            merged = [r.repo for r in results if r.status == "merged"]
            kept = "nothing was merged"
            if merged:
                kept = f"already merged: {', '.join(merged)} (they stay merged)"
            raise MergeError(
                f"workspace {workspace.name} repo {plan.repo}: merge into {base} failed: "
                f"{reason}; {kept}",
                results=results,
                hint="fix the cause and merge again; repos already merged report up_to_date",
            ) from exc
    return results


def _preflight_result(
    workspace: Workspace, base: str, plan: _Plan, tree: gitops.MergeTreeResult | None
) -> RepoMerge:
    if plan.up_to_date:
        status: MergeStatus = "up_to_date"
    elif tree is not None and not tree.clean:
        status = "conflict"
    else:
        status = "not_merged"
    return RepoMerge(
        repo=plan.repo,
        clone=plan.clone,
        branch=workspace.branch,
        base=base,
        status=status,
        files=tree.conflicts if tree is not None else (),
    )


async def _preflight(
    host: Host,
    workspace: Workspace,
    repo: str,
    worktree: str,
    clones: Mapping[str, str],
    base: str,
) -> _Plan:
    ws, branch = workspace.name, workspace.branch
    clone = clones.get(repo)
    if clone is None:
        raise MergeBlocked(f"workspace {ws} repo {repo}: no clone is known to merge into")
    try:
        if await gitops.is_dirty(host, worktree):
            raise MergeBlocked(
                f"workspace {ws} repo {repo} has uncommitted changes; merge blocked",
                hint=f"commit or discard the changes in {worktree}, then merge again",
            )
        current = await gitops.current_branch(host, worktree)
        if current != branch:
            raise MergeBlocked(
                f"workspace {ws} repo {repo} is on {current or 'a detached HEAD'}, "
                f"not on {branch}; merge blocked",
                hint=f"check out {branch} in {worktree} (commits elsewhere are not merged)",
            )
        branch_tip = await gitops.rev_parse(host, clone, f"refs/heads/{branch}")
        if branch_tip is None:
            raise MergeBlocked(f"workspace {ws} repo {repo}: branch {branch} not found in {clone}")
        base_tip = await gitops.rev_parse(host, clone, f"refs/heads/{base}")
        if base_tip is None:
            raise MergeBlocked(
                f'workspace {ws} repo {repo}: base branch "{base}" not found in {clone}; '
                "merge blocked",
                hint=f"create the local branch first (git -C {clone} branch {base} origin/{base})",
            )
        up_to_date = await gitops.is_ancestor(host, clone, branch_tip, base_tip)
        checkouts = await gitops.checked_out_at(host, clone, base)
        checkout = checkouts[0] if checkouts else None
        if checkout is not None and not up_to_date:
            await _check_checkout(host, ws, repo, checkout, base)
    except HostError as exc:
        raise MergeBlocked(f"workspace {ws} repo {repo}: {exc.message}") from exc
    return _Plan(repo, clone, worktree, branch_tip, base_tip, checkout, up_to_date)


async def _check_checkout(host: Host, ws: str, repo: str, checkout: str, base: str) -> None:
    """A checkout of the base branch gets the merge's files: it must be clean and idle."""
    busy = await gitops.operation_in_progress(host, checkout)
    if busy is not None:
        raise MergeBlocked(
            f"workspace {ws} repo {repo}: {checkout} (where {base} is checked out) is in the "
            f"middle of a {busy.operation}; merge blocked",
            hint=f"finish or abort the {busy.operation} in {checkout}, then merge again",
        )
    if await gitops.is_dirty(host, checkout):
        raise MergeBlocked(
            f"workspace {ws} repo {repo}: {checkout} (where {base} is checked out) has "
            "uncommitted changes; merge blocked",
            hint=f"commit or stash them, or check out another branch in {checkout}",
        )


async def _merge_tree(
    host: Host, workspace: Workspace, plan: _Plan, base: str
) -> gitops.MergeTreeResult:
    try:
        return await gitops.merge_tree(host, plan.clone, plan.base_tip, plan.branch_tip)
    except HostError as exc:
        raise MergeBlocked(
            f"workspace {workspace.name} repo {plan.repo}: cannot compute the merge of "
            f"{workspace.branch} into {base}: {exc.message}",
            hint="metawsm merges with `git merge-tree --write-tree`, which needs git 2.38 or later",
        ) from exc


async def _land(host: Host, workspace: Workspace, plan: _Plan, base: str, tree: str) -> RepoMerge:
    message = (
        f"Merge branch '{workspace.branch}' into {base}\n\n"
        f"Merged by metawsm from workspace {workspace.name}.\n"
    )
    identity = await identity_config(host, plan.clone)
    commit = await gitops.commit_tree(
        host, plan.clone, tree, [plan.base_tip, plan.branch_tip], message, config=identity
    )
    if plan.checkout is None:
        landed = await gitops.update_ref(
            host, plan.clone, f"refs/heads/{base}", commit, plan.base_tip,
            reason=f"metawsm: merge {workspace.branch}",
        )  # fmt: skip
        where = f"{base} moved in {plan.clone} since the merge was checked"
    else:
        # Re-checked: fast-forwarding whatever branch is checked out there now would be wrong.
        still_base = await gitops.current_branch(host, plan.checkout) == base
        landed = still_base and await gitops.merge_ff_only(host, plan.checkout, commit)
        where = f"{plan.checkout} (where {base} is checked out) moved or changed meanwhile"
    if not landed:
        raise MergeError(where)
    return RepoMerge(
        repo=plan.repo,
        clone=plan.clone,
        branch=workspace.branch,
        base=base,
        status="merged",
        commit=commit,
    )
