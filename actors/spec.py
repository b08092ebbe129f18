"""Child specifications: what a supervisor starts, and how it restarts and stops it."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from anyio.abc import TaskStatus

from actors.mailbox import Mailbox

if TYPE_CHECKING:
    from actors.supervisor import Supervisor


class Restart(enum.Enum):
    """When a child that ended is started again (OTP restart types)."""

    PERMANENT = "permanent"  #: always
    TRANSIENT = "transient"  #: only after an abnormal exit (an exception other than Shutdown)
    TEMPORARY = "temporary"  #: never; the child is forgotten when it ends


class Strategy(enum.Enum):
    """Which children restart when one of them ends abnormally (OTP strategies)."""

    ONE_FOR_ONE = "one_for_one"  #: only that child
    ONE_FOR_ALL = "one_for_all"  #: every child: the others are stopped, then all start again
    REST_FOR_ONE = "rest_for_one"  #: that child and every child started after it


#: ``shutdown`` value: cancel the child and do not wait for it.
BRUTAL_KILL = 0.0
#: ``shutdown`` value: wait as long as the child takes (use for supervisors, whose own ladder
#: is bounded).
INFINITY = math.inf


class ChildRun(Protocol):
    """The body of a child: runs until done, calls ``task_status.started()`` once ready."""

    def __call__(self, *, task_status: TaskStatus[Any]) -> Awaitable[None]: ...


@dataclass(frozen=True)
class ChildSpec:
    """How to run one child.

    ``run`` is called afresh for every incarnation. ``shutdown`` is the grace, in seconds,
    between cancelling the child and abandoning it (:data:`BRUTAL_KILL`, :data:`INFINITY`).
    ``start_timeout`` bounds the time until the child reports started. ``mailbox`` is the
    child's inbox when it is an actor, kept across restarts; ``supervisor`` is set when the
    child is itself a supervisor, for introspection.
    """

    id: str
    run: ChildRun
    restart: Restart = Restart.PERMANENT
    shutdown: float = 5.0
    start_timeout: float = 10.0
    mailbox: Mailbox[Any] | None = None
    supervisor: Supervisor | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a child spec needs an id")
        if self.shutdown < 0 or self.start_timeout <= 0:
            raise ValueError("shutdown must be >= 0 and start_timeout > 0")


def worker(id: str, body: Callable[[], Awaitable[None]], **options: Any) -> ChildSpec:
    """A child spec for a plain coroutine function that is ready as soon as it starts."""

    async def run(*, task_status: TaskStatus[Any]) -> None:
        task_status.started()
        await body()

    return ChildSpec(id=id, run=run, **options)
