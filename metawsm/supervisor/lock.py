"""The supervisor lock of a metawsm root: held by ``metawsm serve`` for its whole life.

Kept apart from the supervisor so that every CLI command can ask whether one is running
without importing the actor tree (start-up time of each command).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from metawsm.errors import MetawsmError

if TYPE_CHECKING:
    from metawsm.supervisor.environment import Environment

__all__ = ["SupervisorRunning", "hold_lock", "lock_is_held", "supervisor_is_running"]


class SupervisorRunning(MetawsmError):
    """Another supervisor holds this root's lock."""


@contextlib.contextmanager
def hold_lock(env: Environment) -> Iterator[IO[str]]:
    """Take the root's supervisor lock for the duration, or raise :class:`SupervisorRunning`."""
    env.state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(env.lock_path, "a+")  # noqa: SIM115 - held open for the whole serve
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown pid"
            raise SupervisorRunning(
                f"a supervisor is already running for {env.root} ({holder})",
                hint="use it: other metawsm commands talk to it through .metawsm/control.sock",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield handle
    finally:
        handle.close()


def supervisor_is_running(env: Environment) -> bool:
    """True when some process holds the root's lock (a live supervisor)."""
    return lock_is_held(env.lock_path)


def lock_is_held(lock_path: Path) -> bool:
    """True when some process holds the lock file at ``lock_path``."""
    if not lock_path.exists():
        return False
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False
