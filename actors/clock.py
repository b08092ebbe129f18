"""Time for the kernel: the real clock, and a virtual one for tests.

Every time-based decision of the kernel (restart backoff, intensity windows, shutdown grace,
request and start timeouts) goes through a :class:`Clock`, so tests run them in virtual time on
both anyio backends. :class:`FakeClock` only moves when told to (:meth:`FakeClock.advance`) or
when :meth:`FakeClock.autojump` sees every task blocked, which is what trio's ``MockClock`` does,
made backend-neutral with :func:`anyio.wait_all_tasks_blocked`.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field
from typing import Protocol

import anyio
from anyio.lowlevel import checkpoint


class Clock(Protocol):
    """What the kernel needs of time."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of this clock's time."""
        ...

    def move_on_after(self, seconds: float) -> anyio.CancelScope:
        """A cancel scope that this clock cancels once ``seconds`` have passed."""
        ...


class SystemClock:
    """The event loop's clock."""

    def now(self) -> float:
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def move_on_after(self, seconds: float) -> anyio.CancelScope:
        deadline = math.inf if seconds == math.inf else anyio.current_time() + seconds
        return anyio.CancelScope(deadline=deadline)


SYSTEM_CLOCK = SystemClock()


@dataclass(order=True)
class _Timer:
    deadline: float
    seq: int
    event: anyio.Event | None = field(compare=False, default=None)
    scope: anyio.CancelScope | None = field(compare=False, default=None)
    cancelled: bool = field(compare=False, default=False)

    def fire(self) -> None:
        if self.event is not None:
            self.event.set()
        if self.scope is not None:
            self.scope.cancel()


class FakeClock:
    """A virtual clock for tests, on trio and on asyncio alike.

    Time stands still until :meth:`advance` moves it, firing sleepers and deadlines in order, or
    until :meth:`autojump` (run as a background task) jumps to the next timer whenever every
    other task is blocked.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._timer_added = anyio.Event()

    def now(self) -> float:
        return self._now

    def _add(
        self,
        deadline: float,
        *,
        event: anyio.Event | None = None,
        scope: anyio.CancelScope | None = None,
    ) -> _Timer:
        timer = _Timer(deadline, next(self._seq), event, scope)
        heapq.heappush(self._timers, timer)
        self._timer_added.set()
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await checkpoint()
            return
        event = anyio.Event()
        timer = self._add(self._now + seconds, event=event)
        try:
            await event.wait()
        finally:
            timer.cancelled = True

    def move_on_after(self, seconds: float) -> anyio.CancelScope:
        scope = anyio.CancelScope()
        if seconds <= 0:
            # A deadline already reached cancels at the first checkpoint, as SystemClock's does;
            # a timer would wait for the next advance() and hang a zero backoff or grace.
            scope.cancel()
        elif seconds != math.inf:
            self._add(self._now + seconds, scope=scope)
        return scope

    def _pop_due(self, limit: float) -> _Timer | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        if self._timers and self._timers[0].deadline <= limit:
            return heapq.heappop(self._timers)
        return None

    def pending(self) -> int:
        """Number of live timers (sleepers and deadlines)."""
        return sum(1 for t in self._timers if not t.cancelled)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer due on the way, in order.

        Waits for all tasks to block before each step, so the effects of one timer (new sleeps,
        new deadlines) are in place before the next one is considered.
        """
        target = self._now + seconds
        while True:
            await anyio.wait_all_tasks_blocked()
            timer = self._pop_due(target)
            if timer is None:
                break
            self._now = max(self._now, timer.deadline)
            timer.fire()
        self._now = max(self._now, target)
        await anyio.wait_all_tasks_blocked()

    async def autojump(self) -> None:
        """Run forever (as a background task): whenever all other tasks are blocked, jump to the
        next timer. Cancel it to stop."""
        while True:
            await anyio.wait_all_tasks_blocked()
            timer = self._pop_due(math.inf)
            if timer is None:
                self._timer_added = anyio.Event()
                await self._timer_added.wait()
                continue
            self._now = max(self._now, timer.deadline)
            timer.fire()
