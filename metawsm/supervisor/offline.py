"""Operations that need no actor: used by the supervisor for runs it is not driving, and by the
CLI when no supervisor is running (the next supervisor reconciles what they changed)."""

from __future__ import annotations

from typing import Any

from metawsm.errors import MetawsmError
from metawsm.hosts import git as gitops
from metawsm.hsm import EntityKind, RunStatus, can_transition
from metawsm.runs.spec import RunSpec
from metawsm.store.client import StoreWrites
from metawsm.store.reader import Reader
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.run import stop_agent_offline

__all__ = ["cleanup_workspaces", "prune_run_branches", "stop_run_offline"]


async def stop_run_offline(
    env: Environment,
    store: StoreWrites,
    run_id: str,
    *,
    reason: str = "stop requested",
    force: bool = False,
) -> dict[str, Any]:
    """Kill every agent session of the run and record the run stopped."""
    with Reader(env.db_path) as reader:
        record = reader.get_run(run_id)
        agents = reader.list_agents(run_id)
    if record is None:
        raise MetawsmError(f"no run {run_id}")
    status = record.status
    # As the original: the run moves to stopped only where its state machine allows (a
    # completed run stays completed; its sessions are killed all the same).
    if status != RunStatus.STOPPED and can_transition(EntityKind.RUN, status, RunStatus.STOPPING):
        await store.transition(
            EntityKind.RUN, run_id, status, RunStatus.STOPPING, reason, run_id=run_id
        )
        status = RunStatus.STOPPING
    for row in agents:
        await stop_agent_offline(env, store, row, reason, force=force)
    if status == RunStatus.STOPPING:
        await store.transition(
            EntityKind.RUN, run_id, status, RunStatus.STOPPED, "run stopped", run_id=run_id
        )
    return {"run_id": run_id, "agents_stopped": len(agents)}


async def cleanup_workspaces(env: Environment, spec: RunSpec) -> list[str]:
    """Delete the run's workspaces (already deleted ones are fine); return those deleted.

    Uncommitted work in a worktree is removed with it, as the original's cleanup did; the
    branches, and so every commit, are kept.
    """
    provider = env.workspace_provider(spec.host)
    deleted = []
    for name in sorted(set(spec.workspaces.values())):
        if await provider.delete(name, force=True):
            deleted.append(name)
    return deleted


async def prune_run_branches(env: Environment, spec: RunSpec) -> dict[str, Any]:
    """Delete the run's workspace branches (``task/<ws>``) in each repo's clone, each only when
    it is merged into the base branch and checked out nowhere: a branch that holds commits the
    base lacks keeps them, and is reported as kept with the reason."""
    deleted: list[str] = []
    kept: list[dict[str, str]] = []
    if env.policy.workspace.provider != "git":
        return {"branches_deleted": [], "branches_kept": [], "prune": "wsm keeps its branches"}
    site = env.site(spec.host)  # the run's host: its clones, over its connection
    host = site.host
    base = spec.base_branch.strip().removeprefix("origin/")
    for repo in spec.repos:
        clone = site.repos.get(repo)
        if clone is None:
            continue
        for ws in sorted(set(spec.workspaces.values())):
            branch = spec.branch_for(ws)
            try:
                tip = await gitops.rev_parse(host, clone, f"refs/heads/{branch}")
                if tip is None:
                    continue
                base_tip = await gitops.rev_parse(host, clone, f"refs/heads/{base}")
                reason = ""
                if base_tip is None:
                    reason = f"base branch {base} not found"
                elif not await gitops.is_ancestor(host, clone, tip, base_tip):
                    reason = f"not merged into {base}"
                elif where := await gitops.checked_out_at(host, clone, branch):
                    reason = f"checked out in {where[0]}"
                if reason:
                    kept.append({"repo": repo, "branch": branch, "reason": reason})
                    continue
                await gitops.branch_delete(host, clone, branch, force=True)
                deleted.append(f"{repo}:{branch}")
            except MetawsmError as exc:
                kept.append({"repo": repo, "branch": branch, "reason": exc.message})
    return {"branches_deleted": deleted, "branches_kept": kept}
