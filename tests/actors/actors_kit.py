"""Test doubles for the kernel's tests: children the test drives by hand, and event helpers.

A :class:`Puppet` is a worker child that reports started and then waits for the test to tell
it how to end (crash, return, raise Shutdown) or to be cancelled; every incarnation logs its
start and its end in a shared :class:`Stage`, so tests assert the real order in which children
started and ended, next to the supervisor's own ``events``.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import anyio
import sniffio
from anyio import get_current_task
from anyio.abc import TaskGroup, TaskStatus
from anyio.lowlevel import checkpoint

from actors import ActorError, ChildSpec, Clock, Restart, Shutdown, Supervisor, SupervisorEvent


class Ending(enum.Enum):
    CRASH = "crash"
    RETURN = "return"
    SHUTDOWN = "shutdown"


class Stage:
    """The log shared by a test's puppets: ``("start" | "end", child id)`` in order, and, with a
    clock, the virtual time of each entry in :attr:`timeline`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
        self.log: list[tuple[str, str]] = []
        self.timeline: list[tuple[str, str, float]] = []

    def record(self, what: str, child: str) -> None:
        self.log.append((what, child))
        if self.clock is not None:
            self.timeline.append((what, child, self.clock.now()))

    def starts(self) -> list[str]:
        return [child for what, child in self.log if what == "start"]

    def ends(self) -> list[str]:
        return [child for what, child in self.log if what == "end"]

    def clear(self) -> None:
        self.log.clear()
        self.timeline.clear()


class Puppet:
    """A worker child driven by the test.

    ``fail_starts`` makes that many next incarnations raise before reporting started;
    ``cleanup`` is seconds of the stage's clock spent, shielded, in cleanup when the incarnation
    ends (to observe that stops are sequential).
    """

    def __init__(
        self,
        id: str,
        stage: Stage,
        *,
        restart: Restart = Restart.PERMANENT,
        shutdown: float = 5.0,
        start_timeout: float = 10.0,
        cleanup: float = 0.0,
    ) -> None:
        self.id = id
        self.stage = stage
        self.cleanup = cleanup
        self.fail_starts = 0
        self.incarnations = 0
        self._order = anyio.Event()
        self._ending: Ending = Ending.CRASH
        self.spec = ChildSpec(
            id=id,
            run=self._run,
            restart=restart,
            shutdown=shutdown,
            start_timeout=start_timeout,
        )

    async def _run(self, *, task_status: TaskStatus[Any]) -> None:
        self.incarnations += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError(f"{self.id} cannot start")
        self._order = order = anyio.Event()
        self.stage.record("start", self.id)
        try:
            task_status.started()
            await order.wait()
        finally:
            if self.cleanup:
                assert self.stage.clock is not None
                with anyio.CancelScope(shield=True):
                    await self.stage.clock.sleep(self.cleanup)
            self.stage.record("end", self.id)
        if self._ending is Ending.CRASH:
            raise RuntimeError(f"{self.id} crashed")
        if self._ending is Ending.SHUTDOWN:
            raise Shutdown()

    def end(self, how: Ending = Ending.CRASH) -> None:
        """Make the running incarnation end ``how``."""
        self._ending = how
        self._order.set()

    def crash(self) -> None:
        self.end(Ending.CRASH)


def puppets(stage: Stage, ids: Iterable[str], **options: Any) -> dict[str, Puppet]:
    return {id: Puppet(id, stage, **options) for id in ids}


def generations(sup: Supervisor) -> dict[str, int]:
    return {child.id: child.generation for child in sup.which_children()}


def states(sup: Supervisor) -> dict[str, str]:
    return {child.id: child.state for child in sup.which_children()}


def kinds(
    events: Iterable[SupervisorEvent], wanted: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """``(child, kind)`` of each event, optionally only the ``wanted`` kinds."""
    return [(e.child, e.kind) for e in events if wanted is None or e.kind in wanted]


def since(sup: Supervisor, mark: int) -> list[SupervisorEvent]:
    """The supervisor's events after the first ``mark`` (use ``len(sup.events)`` as mark)."""
    return list(sup.events)[mark:]


async def start_supervisor(tg: TaskGroup, sup: Supervisor) -> None:
    """Run ``sup`` in ``tg`` and return once all its children have started."""
    await tg.start(sup.run)


async def settle() -> None:
    """Let every task run until all are blocked (no virtual time passes).

    On asyncio, :func:`anyio.wait_all_tasks_blocked` sleeps 0.1 s of real time whenever it
    finds a task runnable, which adds up over a suite; spin on zero-length sleeps first (the
    same test anyio applies), and fall back to it if some task keeps running (for instance
    another task waiting for all to block).
    """
    if sniffio.current_async_library() == "asyncio":
        me = asyncio.current_task()
        for _ in range(100):
            await asyncio.sleep(0)
            if all(task is me or _blocked(task) for task in asyncio.all_tasks()):
                return
    await anyio.wait_all_tasks_blocked()


def _blocked(task: asyncio.Task[Any]) -> bool:
    waiter = task._fut_waiter  # type: ignore[attr-defined]
    return waiter is not None and not waiter.done()


# -- no task left behind (used by conftest.py) ---------------------------------------------


def _is_runner_plumbing(task: anyio.TaskInfo) -> bool:
    """The anyio pytest plugin wraps each fixture/test call in a fresh asyncio task that awaits
    the runner task; it is not the test's and is gone once the call returns."""
    qualname = getattr(task.coro, "__qualname__", "")
    return "TestRunner." in qualname


def task_snapshot() -> frozenset[int]:
    """Ids of the tasks running now (the baseline for :func:`leftover_tasks`)."""
    return frozenset(task.id for task in anyio.get_running_tasks())


async def leftover_tasks(baseline: Collection[int], *, settle: int = 5) -> list[str]:
    """Names of tasks running now that were not in ``baseline`` (besides the caller).

    Lets pending work finish first: a few checkpoints and a wait until everything blocks.
    """
    for _ in range(settle):
        await checkpoint()
    await anyio.wait_all_tasks_blocked()
    me = get_current_task().id
    return sorted(
        str(task.name)
        for task in anyio.get_running_tasks()
        if task.id not in baseline and task.id != me and not _is_runner_plumbing(task)
    )


class Running:
    """``sup.run`` as a background task that records how it ended instead of raising, so a test
    can look at a supervisor that gave up or failed to start."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.error: BaseException | None = None
        self.ended = anyio.Event()

    async def __call__(self, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            await self.sup.run(task_status=task_status)
        except ActorError as exc:
            self.error = exc
        finally:
            self.ended.set()


async def launch(tg: TaskGroup, sup: Supervisor) -> Running:
    """Start ``sup`` in ``tg``; returns once its children are all started."""
    running = Running(sup)
    await tg.start(running)
    return running


def launch_soon(tg: TaskGroup, sup: Supervisor) -> Running:
    """Start ``sup`` in ``tg`` without waiting (for supervisors that may never finish starting)."""
    running = Running(sup)
    tg.start_soon(running)
    return running
