"""The forum actor: a child of the root supervisor that follows ``forum_events``.

Every committed write of the supervisor pokes it (through the event bus); it reads the forum's
last sequence (one query per burst of writes) and, when it moved, wakes whoever waits for the
forum (``forum wait``, ``forum watch --follow``) and its consumers: the docs-sync consumer and
the Redis export, each a task of its own with its cursor in ``forum_exports``, so a slow git
commit or a Redis outage never holds up a forum command or each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskStatus

from actors import ChildSpec
from metawsm.forum import store as fs
from metawsm.store.reader import Reader

log = logging.getLogger("metawsm.forum")

#: A consumer: runs until cancelled; ``wake`` is set whenever the forum moved.
Consumer = Callable[["Wake"], Coroutine[Any, Any, None]]


class Wake:
    """A level-triggered wake-up: :meth:`wait` returns at once if poked since the last wait."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float | None = None) -> None:
        if timeout is None:
            await self._event.wait()
        else:
            with anyio.move_on_after(timeout):
                await self._event.wait()
        if self._event.is_set():
            self._event = anyio.Event()


class ForumActor:
    """Follows the forum's event sequence; see the module docstring."""

    def __init__(self, db_path: Path, consumers: Sequence[Consumer] = ()) -> None:
        self._db_path = db_path
        self._consumers = tuple(consumers)
        self._wakes = [Wake() for _ in self._consumers]
        self._poked = anyio.Event()
        self._moved = anyio.Event()
        self.sequence = 0

    def poke(self) -> None:
        """Something committed: look at the forum's sequence."""
        self._poked.set()

    async def next_change(self, timeout: float, seen: int) -> None:
        """Return once the sequence is past ``seen``, or after ``timeout`` seconds."""
        with anyio.move_on_after(timeout):
            while self.sequence <= seen:
                await self._moved.wait()

    def spec(self) -> ChildSpec:
        return ChildSpec(id="forum", run=self.run, shutdown=5.0)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with Reader(self._db_path) as reader:
            self.sequence = fs.last_sequence(reader.conn)
            async with anyio.create_task_group() as tg:
                for consumer, wake in zip(self._consumers, self._wakes, strict=True):
                    tg.start_soon(consumer, wake)
                    wake.set()  # catch up on what arrived while the supervisor was down
                task_status.started()
                while True:
                    await self._poked.wait()
                    self._poked = anyio.Event()
                    sequence = fs.last_sequence(reader.conn)
                    if sequence == self.sequence:
                        continue
                    self.sequence = sequence
                    moved, self._moved = self._moved, anyio.Event()
                    moved.set()
                    for wake in self._wakes:
                        wake.set()
