"""The core the CLI uses when no supervisor is running (imported only then: it brings in the
store, the providers and the offline operations)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from metawsm.core import (
    CleanupParams,
    CloseParams,
    DocsParams,
    GuideParams,
    HostsParams,
    LoopOps,
    MergeParams,
    ReadingCore,
    RunsParams,
    StatusParams,
    StopParams,
    cleanup_plan,
    cleanup_runs,
    event,
)
from metawsm.forum.service import FORUM_METHODS, ForumOps
from metawsm.hsm import RunStatus
from metawsm.runs.spec import RunSpec
from metawsm.store.client import DirectStore
from metawsm.store.records import RunRecord
from metawsm.supervisor.offline import cleanup_workspaces, prune_run_branches, stop_run_offline


class OfflineCore(ForumOps, LoopOps, ReadingCore):
    """The core when no supervisor is running: reads SQLite directly; stop and cleanup act on
    SQLite and tmux directly (the next supervisor reconciles); the rest needs a supervisor."""

    supervisor_up = False

    async def hosts(self, params: HostsParams) -> dict[str, Any]:
        from metawsm.status.hosts import probe_hosts

        return await probe_hosts(self.env)

    async def stop(self, params: StopParams) -> dict[str, Any]:
        record = self._record(params)
        result: dict[str, Any] = {"run_id": record.run_id}
        if record.status != RunStatus.STOPPED:
            async with DirectStore(self.env.db_path) as store:
                result = await stop_run_offline(self.env, store, record.run_id, force=params.force)
        return {**result, "supervisor": "down"}

    async def cleanup(self, params: CleanupParams) -> dict[str, Any]:
        async def one(record: RunRecord) -> dict[str, Any]:
            return await self._cleanup_one(record, params)

        result = await cleanup_runs(self.env, params, one)
        return {**result, "supervisor": "down"}

    async def _cleanup_one(self, record: RunRecord, params: CleanupParams) -> dict[str, Any]:
        spec = RunSpec.model_validate_json(record.spec_json)
        if params.dry_run:
            return cleanup_plan(
                record.run_id,
                spec,
                keep=params.keep_workspaces,
                prune_branches=params.prune_branches,
            )
        result: dict[str, Any] = {"run_id": record.run_id}
        async with DirectStore(self.env.db_path) as store:
            if record.status != RunStatus.STOPPED:
                result = await stop_run_offline(
                    self.env, store, record.run_id, reason="cleanup requested"
                )
            deleted = (
                []
                if params.keep_workspaces
                else await cleanup_workspaces(self.run_env(record), spec)
            )
            pruned = await prune_run_branches(self.env, spec) if params.prune_branches else {}
            await event(
                store,
                record.run_id,
                "cleanup",
                f"cleanup completed; workspaces deleted: {len(deleted)}"
                + (f"; branches deleted: {len(pruned['branches_deleted'])}" if pruned else ""),
            )
        return {**result, "workspaces_deleted": deleted, **pruned}

    def write_store(self) -> DirectStore:
        return DirectStore(self.env.db_path)


#: The methods that work without a supervisor: params model and core method.
OFFLINE_METHODS: dict[str, tuple[type[BaseModel], str]] = {
    "status": (StatusParams, "status"),
    "runs": (RunsParams, "runs"),
    "stop": (StopParams, "stop"),
    "hosts": (HostsParams, "hosts"),
    "cleanup": (CleanupParams, "cleanup"),
    "guide": (GuideParams, "guide"),
    "merge": (MergeParams, "merge"),
    "close": (CloseParams, "close"),
    **FORUM_METHODS,
    "docs": (DocsParams, "docs"),
}
