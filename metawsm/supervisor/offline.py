"""Operations that need no actor: used by the supervisor for runs it is not driving, and by the
CLI when no supervisor is running (the next supervisor reconciles what they changed)."""

from __future__ import annotations

from typing import Any

from metawsm.errors import MetawsmError
from metawsm.hsm import EntityKind, RunStatus, can_transition
from metawsm.runs.spec import RunSpec
from metawsm.store.client import StoreWrites
from metawsm.store.reader import Reader
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.run import stop_agent_offline

__all__ = ["cleanup_workspaces", "stop_run_offline"]


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
