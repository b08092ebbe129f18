"""The event bus: committed events fanned out to subscribers (``metawsm watch``, the tui).

Every write the supervisor makes goes through :class:`PublishingStore`, which pokes the bus once
the write has committed; the bus then reads the events it has not published yet (one query per
burst of writes: driven by commits, never by polling) and hands them to every subscriber's
bounded stream. A subscriber that falls a whole buffer behind is dropped and told so; it never
slows the supervisor down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from metawsm.store.client import StoreClient
from metawsm.store.ops import AnyOp, WriteResult
from metawsm.store.reader import Reader

log = logging.getLogger("metawsm.events")

SUBSCRIBER_BUFFER = 1024
_BATCH = 1000


class EventBus:
    """Publishes committed events, in sequence order, to its subscribers."""

    def __init__(self, db_path: Any) -> None:
        self._db_path = db_path
        self._poked = anyio.Event()
        self._subscribers: set[MemoryObjectSendStream[dict[str, Any]]] = set()
        self.last_id = 0
        #: Also told of every commit (the forum actor follows its own event table).
        self.listeners: list[Callable[[], None]] = []

    def poke(self) -> None:
        """Something committed: publish what is new."""
        self._poked.set()
        for listener in self.listeners:
            listener()

    def subscribe(self) -> MemoryObjectReceiveStream[dict[str, Any]]:
        """A stream of events committed from now on (closed if the reader falls behind)."""
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](SUBSCRIBER_BUFFER)
        self._subscribers.add(send)
        return receive

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with Reader(self._db_path) as reader:
            tail = reader.conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
            self.last_id = int(tail[0]) if tail is not None else 0
            task_status.started()
            try:
                while True:
                    await self._poked.wait()
                    self._poked = anyio.Event()
                    self._publish(reader)
            finally:
                for send in self._subscribers:
                    send.close()
                self._subscribers.clear()

    def _publish(self, reader: Reader) -> None:
        while True:
            events = reader.list_events(after_id=self.last_id, limit=_BATCH)
            if not events:
                return
            for event in events:
                self.last_id = event.id
                data = asdict(event)
                for send in list(self._subscribers):
                    try:
                        send.send_nowait(data)
                    except anyio.WouldBlock:
                        log.warning(
                            "an event subscriber fell %d events behind; dropped", SUBSCRIBER_BUFFER
                        )
                        self._drop(send)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        self._drop(send)

    def _drop(self, send: MemoryObjectSendStream[dict[str, Any]]) -> None:
        self._subscribers.discard(send)
        send.close()


class PublishingStore(StoreClient):
    """A store client that pokes the event bus after each committed write."""

    def __init__(self, inner: StoreClient, bus: EventBus) -> None:
        super().__init__(inner._ref)
        self._timeout = inner._timeout
        self._bus = bus

    async def write(self, *ops: AnyOp) -> WriteResult:
        result = await super().write(*ops)
        self._bus.poke()
        return result
