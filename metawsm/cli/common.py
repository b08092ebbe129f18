"""What every command shares: finding the metawsm root, choosing a core, printing JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio

from metawsm.control.client import ControlClient
from metawsm.errors import MetawsmError, UsageError
from metawsm.naming import validate_name
from metawsm.supervisor.environment import Environment
from metawsm.supervisor.lock import supervisor_is_running
from metawsm.supervisor.rootdir import announce_root, find_root


def load_env(policy: str = "", db: str = "") -> Environment:
    """The environment of the metawsm root found from the current directory (walking up, as
    git does); says so on stderr when that root is not the current directory. ``--policy``
    and ``--db`` given relative are relative to the current directory, as typed."""
    root = find_root(Path.cwd())
    announce_root(root)
    return Environment.load(
        root=root,
        policy=os.path.abspath(policy) if policy else None,
        db=os.path.abspath(db) if db else None,
    )


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


def call(env: Environment, method: str, params: dict[str, Any]) -> Any:
    """Run one core method: through the supervisor when it is up, else offline."""
    # Names are checked before anything else (an invalid --run-id used to be reported as a
    # missing database, exit 1, when no supervisor ran and the database did not exist yet).
    for key, kind in (("run_id", "run id"), ("ticket", "ticket")):
        value = params.get(key)
        if isinstance(value, str) and value:
            validate_name(kind, value)
    if params.get("run_id") and params.get("ticket"):
        raise UsageError(
            "--run-id and --ticket exclude each other; give one",
            hint="--run-id names one run; --ticket picks the newest run of that ticket",
        )
    if supervisor_is_running(env):
        return anyio.run(RemoteCore(env).call, method, params, backend="asyncio")
    # The offline core reads SQLite and acts on tmux directly; imported only when needed.
    from metawsm.cli.offline import OFFLINE_METHODS, OfflineCore

    if method not in OFFLINE_METHODS:
        raise MetawsmError(
            f"no supervisor is running for {env.root}; `{method}` needs one",
            hint="start it with `metawsm serve` (it adopts running agents), then run this again",
        )
    model, name = OFFLINE_METHODS[method]
    core = OfflineCore(env)
    return anyio.run(getattr(core, name), model.model_validate(params), backend="asyncio")
