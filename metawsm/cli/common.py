"""What every command shares: finding the metawsm root, choosing a core, printing JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel

from metawsm.control.client import ControlClient
from metawsm.core import (
    CleanupParams,
    CloseParams,
    GuideParams,
    LoopOps,
    MergeParams,
    ReadingCore,
    RunsParams,
    Selector,
    StatusParams,
    cleanup_plan,
    event,
)
from metawsm.errors import MetawsmError
from metawsm.hsm import RunStatus
from metawsm.naming import validate_name
from metawsm.runs.spec import RunSpec
from metawsm.store.client import DirectStore
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.offline import cleanup_workspaces, stop_run_offline
from metawsm.supervisor.serve import supervisor_is_running


def load_env(policy: str = "", db: str = "") -> Environment:
    """The environment of the current directory's metawsm root."""
    return Environment.load(root=Path.cwd(), policy=policy or None, db=db or None)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


class RemoteCore:
    """A :class:`~metawsm.core.Core` that forwards every call to the running supervisor."""

    supervisor_up = True

    def __init__(self, env: Environment) -> None:
        self.env = env

    async def call(self, method: str, params: dict[str, Any], timeout: float = 1900.0) -> Any:
        async with ControlClient(self.env.socket_path) as client:
            return await client.call(method, params, timeout=timeout)


class OfflineCore(LoopOps, ReadingCore):
    """The core when no supervisor is running: reads SQLite directly; stop and cleanup act on
    SQLite and tmux directly (the next supervisor reconciles); the rest needs a supervisor."""

    supervisor_up = False

    async def stop(self, params: Selector) -> dict[str, Any]:
        record = self._record(params)
        result: dict[str, Any] = {"run_id": record.run_id}
        if record.status != RunStatus.STOPPED:
            async with DirectStore(self.env.db_path) as store:
                result = await stop_run_offline(self.env, store, record.run_id)
        return {**result, "supervisor": "down"}

    async def cleanup(self, params: CleanupParams) -> dict[str, Any]:
        record = self._record(params)
        spec = RunSpec.model_validate_json(record.spec_json)
        if params.dry_run:
            return cleanup_plan(record.run_id, spec, keep=params.keep_workspaces)
        result: dict[str, Any] = {"run_id": record.run_id}
        async with DirectStore(self.env.db_path) as store:
            if record.status != RunStatus.STOPPED:
                result = await stop_run_offline(
                    self.env, store, record.run_id, reason="cleanup requested"
                )
            deleted = [] if params.keep_workspaces else await cleanup_workspaces(self.env, spec)
            await event(
                store,
                record.run_id,
                "cleanup",
                f"cleanup completed; workspaces deleted: {len(deleted)}",
            )
        return {**result, "workspaces_deleted": deleted, "supervisor": "down"}

    def write_store(self) -> DirectStore:
        return DirectStore(self.env.db_path)


_OFFLINE: dict[str, tuple[type[BaseModel], str]] = {
    "status": (StatusParams, "status"),
    "runs": (RunsParams, "runs"),
    "stop": (Selector, "stop"),
    "cleanup": (CleanupParams, "cleanup"),
    "guide": (GuideParams, "guide"),
    "merge": (MergeParams, "merge"),
    "close": (CloseParams, "close"),
}


def call(env: Environment, method: str, params: dict[str, Any]) -> Any:
    """Run one core method: through the supervisor when it is up, else offline."""
    # Names are checked before anything else (an invalid --run-id used to be reported as a
    # missing database, exit 1, when no supervisor ran and the database did not exist yet).
    for key, kind in (("run_id", "run id"), ("ticket", "ticket")):
        value = params.get(key)
        if isinstance(value, str) and value:
            validate_name(kind, value)
    if supervisor_is_running(env):
        return anyio.run(RemoteCore(env).call, method, params, backend="asyncio")
    if method not in _OFFLINE:
        raise MetawsmError(
            f"no supervisor is running for {env.root}; `{method}` needs one",
            hint="start it with `metawsm serve` (it adopts running agents), then run this again",
        )
    model, name = _OFFLINE[method]
    core = OfflineCore(env)
    return anyio.run(getattr(core, name), model.model_validate(params), backend="asyncio")
