"""How code writes: one async interface, two ways to reach the database.

- :class:`StoreClient` sends every write to the process's
  :class:`~metawsm.store.writer.StoreWriter` as a request and returns once it is committed.
  That is the path inside ``metawsm serve``.
- :class:`DirectStore` writes through a connection of its own, one transaction per write.
  That is the path for CLI commands when no supervisor runs; SQLite's lock (with the busy
  retry of :func:`~metawsm.store.db.write_transaction`) keeps it safe beside a running writer.

Both satisfy :class:`StoreWrites`, so code above the store does not know which it has.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Protocol

import anyio

from actors import ActorRef, ActorStopped, RequestTimeout
from metawsm.errors import StoreClosedError, StoreError
from metawsm.hsm import EntityKind
from metawsm.store import ops as build
from metawsm.store import schema
from metawsm.store.db import WRITE_RETRY_SECONDS, connect, db_label, write_transaction
from metawsm.store.ops import AnyOp, Apply, WriteResult, execute_ops
from metawsm.store.records import NewEvent
from metawsm.store.writer import Write

#: How long a client waits for the writer's acknowledgement. Longer than the writer's
#: busy-retry bound, so a write waiting out another process's lock is not reported as lost.
DEFAULT_WRITE_TIMEOUT = WRITE_RETRY_SECONDS + 30.0


class StoreWrites(Protocol):
    """What code that records state needs from the store."""

    async def write(self, *ops: AnyOp) -> WriteResult:
        """Execute ``ops`` atomically; return once committed."""
        ...

    async def append_event(self, event: NewEvent) -> int:
        """Append one event; return its id in the global event sequence."""
        ...

    async def transition(
        self,
        kind: EntityKind,
        entity_id: str,
        from_state: str,
        to_state: str,
        message: str = "",
        *,
        run_id: str,
        generation: int = 0,
    ) -> int:
        """Apply a checked compare-and-swap transition; return the transition event's id."""
        ...


class WriteHelpers:
    """Typed helpers over :meth:`write` for the writes whose result matters (an id)."""

    async def write(self, *ops: AnyOp) -> WriteResult:
        raise NotImplementedError

    async def append_event(self, event: NewEvent) -> int:
        """Append one event; return its id in the global event sequence."""
        return _rowid(await self.write(build.append_event(event)), 0)

    async def transition(
        self,
        kind: EntityKind,
        entity_id: str,
        from_state: str,
        to_state: str,
        message: str = "",
        *,
        run_id: str,
        generation: int = 0,
    ) -> int:
        """Apply :func:`~metawsm.store.ops.transition`; return the transition event's id.
        Raises :class:`~metawsm.errors.TransitionError` when illegal or lost to a concurrent
        change (then nothing was written)."""
        write = build.transition(
            kind, entity_id, from_state, to_state, message, run_id=run_id, generation=generation
        )
        return _rowid(await self.write(*write), 1)

    async def respawn_agent(
        self,
        run_id: str,
        agent_name: str,
        workspace_name: str,
        from_state: str,
        message: str = "",
        *,
        crash: bool = True,
    ) -> int:
        """Apply :func:`~metawsm.store.ops.respawn_agent`; return the event's id."""
        write = build.respawn_agent(
            run_id, agent_name, workspace_name, from_state, message, crash=crash
        )
        return _rowid(await self.write(*write), 1)

    async def add_guidance_request(
        self,
        run_id: str,
        workspace_name: str,
        agent_name: str,
        question: str,
        context_text: str = "",
        *,
        generation: int = 0,
        priority: str = "normal",
        opened_by: tuple[str, str] | None = None,
        title: str = "",
    ) -> int:
        """Record a pending guidance question and open its forum thread, in one write; return
        the guidance id. ``priority``, ``opened_by`` and ``title`` are the thread's (an
        escalation is ``urgent``, opened by ``system``/``metawsm``)."""
        from metawsm.forum.store import GuidanceThread, open_guidance_thread

        thread = GuidanceThread(
            run_id, workspace_name, agent_name, question, context_text, priority, opened_by, title
        )
        write = build.add_guidance_request(
            run_id, workspace_name, agent_name, question, context_text, generation=generation
        )
        return _rowid(
            await self.write(*write, Apply(lambda conn: open_guidance_thread(conn, thread))), 0
        )

    async def answer_guidance(
        self,
        guidance_id: int,
        answer: str,
        *,
        forum_actor: tuple[str, str] | None = ("operator", ""),
    ) -> int:
        """Answer a pending guidance request; return the ``answered`` event's id. Its forum
        thread gets the answer too, in the same write, posted by ``forum_actor`` (``None``:
        the caller posts it itself)."""
        from metawsm.forum.store import answer_guidance_thread

        ops: list[AnyOp] = list(build.answer_guidance(guidance_id, answer))
        if forum_actor is not None:
            actor = forum_actor
            ops.append(Apply(lambda conn: answer_guidance_thread(conn, guidance_id, answer, actor)))
        return _rowid(await self.write(*ops), 1)


def _rowid(result: WriteResult, index: int) -> int:
    rowid = result.rowids[index]
    if rowid is None:
        raise StoreError("the write inserted no row where one was expected")
    return rowid


class StoreClient(WriteHelpers):
    """Writes through the process's store writer; every write is a request and returns only
    after its transaction committed.

    A write that times out may still commit later (it cannot be taken back once queued); the
    timeout error says so.
    """

    def __init__(self, ref: ActorRef[Write], *, timeout: float = DEFAULT_WRITE_TIMEOUT) -> None:
        self._ref = ref
        self._timeout = timeout

    async def write(self, *ops: AnyOp) -> WriteResult:
        """Execute ``ops`` atomically through the writer. Raises the write's own error
        (:class:`~metawsm.errors.TransitionError`, :class:`StoreError`), or
        :class:`StoreClosedError` when the writer has stopped."""
        try:
            outcome = await self._ref.request(Write(tuple(ops)), timeout=self._timeout)
        except ActorStopped as exc:
            raise StoreClosedError(
                f"the store writer stopped; this write was not made ({exc})",
                hint="is the supervisor shutting down? retry once it is running again",
            ) from exc
        except RequestTimeout as exc:
            raise StoreError(
                f"no acknowledgement from the store writer within {self._timeout:g}s; "
                "the write may still be committed",
            ) from exc
        if isinstance(outcome, Exception):
            raise outcome
        if not isinstance(outcome, WriteResult):
            raise StoreError(f"unexpected reply from the store writer: {outcome!r}")
        return outcome


class DirectStore(WriteHelpers):
    """Writes through a connection of its own (no supervisor running): one ``BEGIN
    IMMEDIATE`` transaction per write, in a worker thread behind a one-slot limiter.

    Opens (and, unless ``migrate=False``, migrates) the database when constructed. Use as a
    context manager, sync or async, or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        migrate: bool = True,
        retry_for: float = WRITE_RETRY_SECONDS,
    ) -> None:
        conn = connect(path, check_same_thread=False)
        try:
            if migrate:
                schema.migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn
        self._label = db_label(conn)
        self._retry_for = retry_for
        self._limiter = anyio.CapacityLimiter(1)

    def write_sync(self, *ops: AnyOp) -> WriteResult:
        """Execute ``ops`` atomically, blocking; for synchronous callers."""
        conn = self._conn
        if conn is None:
            raise StoreClosedError(f"the store for {self._label} is closed")
        try:
            return write_transaction(conn, lambda c: execute_ops(c, ops), retry_for=self._retry_for)
        except sqlite3.Error as exc:
            raise StoreError(f"write to {self._label} failed: {exc}") from exc

    async def write(self, *ops: AnyOp) -> WriteResult:
        """Execute ``ops`` atomically in a worker thread (never abandoned mid-transaction)."""
        return await anyio.to_thread.run_sync(self._write_tuple, ops, limiter=self._limiter)

    def _write_tuple(self, ops: tuple[AnyOp, ...]) -> WriteResult:
        return self.write_sync(*ops)

    def close(self) -> None:
        """Close the connection; later writes raise :class:`StoreClosedError`."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def aclose(self) -> None:
        """Close the connection once no write is in flight."""
        async with self._limiter:
            self.close()

    def __enter__(self) -> DirectStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> DirectStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
