"""The forum's operations, the same with or without a supervisor.

:class:`ForumOps` is mixed into the supervisor's core and the offline core: writes go through
``write_store()`` (the store writer inside ``serve``, a direct connection offline), reads
through a read-only connection, and waiting (``forum wait``, ``forum watch --follow``) on
:meth:`ForumOps.forum_next_change` (the forum actor's signal in ``serve``; a short sleep
offline).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

import anyio

from metawsm.errors import UsageError, WaitTimeoutError
from metawsm.forum import model as m
from metawsm.forum import store as fs
from metawsm.naming import validate_name
from metawsm.store.client import WriteHelpers
from metawsm.store.db import connect
from metawsm.store.ops import GUIDANCE_PENDING
from metawsm.store.reader import Reader
from metawsm.supervisor.environment import Environment

#: How often an offline ``forum wait`` looks again (no supervisor: nobody to tell it).
OFFLINE_POLL_SECONDS = 0.25


class ForumOps:
    """The forum commands (``self.env`` and ``write_store`` come from the core)."""

    env: Environment

    def write_store(self) -> AbstractAsyncContextManager[WriteHelpers]:
        raise NotImplementedError

    @contextmanager
    def forum_conn(self) -> Iterator[sqlite3.Connection | None]:
        """A read-only connection, or None when nothing was ever written here."""
        if not self.env.db_path.exists():
            yield None
            return
        conn = connect(self.env.db_path, readonly=True)
        try:
            yield conn
        finally:
            conn.close()

    async def forum_next_change(self, timeout: float, seen: int) -> None:
        """Return once the forum has an event past sequence ``seen`` (perhaps), or after
        ``timeout`` seconds."""
        await anyio.sleep(min(timeout, OFFLINE_POLL_SECONDS))

    def forum_changed(self) -> None:
        """A forum write committed (the supervisor pokes its forum actor)."""

    async def _command(self, cmd: fs.Command) -> dict[str, Any]:
        async with self.write_store() as store:
            result = await store.write(fs.command_op(cmd))
        self.forum_changed()
        outcome = result.values[-1]
        assert isinstance(outcome, fs.Outcome)
        return outcome.thread

    # -- commands ---------------------------------------------------------------------------

    async def forum_ask(self, params: m.AskParams) -> dict[str, Any]:
        actor = m.actor_of(params, m.ActorType.AGENT)
        if params.run_id:
            validate_name("run id", params.run_id)
        ticket = params.ticket.strip()
        if not ticket and params.run_id:
            with self.forum_conn() as conn:
                if conn is not None:
                    ticket = fs.run_ticket(conn, params.run_id, params.workspace)
        if ticket:
            validate_name("ticket", ticket)
        return await self._command(
            fs.Open(
                ticket=ticket,
                title=params.title,
                body=params.body,
                actor=actor,
                run_id=params.run_id,
                agent=params.agent.strip(),
                priority=params.priority,
                event_id=params.event_id,
                thread_id=params.thread_id,
            )
        )

    async def forum_answer(self, params: m.AnswerParams) -> dict[str, Any]:
        """Answer a thread; a thread linked to a pending guidance request answers the agent
        too (response file, request answered, run back to ``running``)."""
        actor = m.actor_of(params, m.ActorType.OPERATOR)
        thread_id = m.check_thread_id(params.thread_id)
        body = m.check_body(params.body)
        delivered = await self._answer_linked_guidance(thread_id, body, params, actor)
        if delivered is not None:
            return delivered
        return await self._command(
            fs.Post(thread_id, body, actor, event_id=params.event_id, answer=True)
        )

    async def _answer_linked_guidance(
        self, thread_id: str, body: str, params: m.AnswerParams, actor: tuple[str, str]
    ) -> dict[str, Any] | None:
        from metawsm.loop.guidance import answer_request

        with self.forum_conn() as conn:
            link = fs.guidance_of(conn, thread_id) if conn is not None else None
        if link is None or link[1] != GUIDANCE_PENDING:
            return None
        with Reader(self.env.db_path) as reader:
            pending = {g.id: g for g in _pending_all(reader, thread_id, link[0])}
            record = reader.get_run(pending[link[0]].run_id) if link[0] in pending else None
        if record is None:
            return None
        # The thread first (so a closed thread refuses before the agent is told anything),
        # then the agent: response file, request answered, run back to running.
        thread = await self._command(
            fs.Post(thread_id, body, actor, event_id=params.event_id, answer=True)
        )
        async with self.write_store() as store:
            await answer_request(
                self.env,
                store,
                record,
                list(pending.values()),
                pending[link[0]],
                body,
                forum_actor=None,
            )
        self.forum_changed()
        return thread

    async def forum_assign(self, params: m.AssignParams) -> dict[str, Any]:
        return await self._command(
            fs.Assign(
                params.thread_id,
                params.assignee_type or m.ActorType.OPERATOR.value,
                params.assignee_name,
                m.actor_of(params, m.ActorType.OPERATOR),
                note=params.note,
                event_id=params.event_id,
            )
        )

    async def forum_state(self, params: m.StateParams) -> dict[str, Any]:
        if not params.state.strip():
            raise UsageError("--state is required")
        return await self._command(
            fs.ChangeState(
                params.thread_id,
                params.state,
                m.actor_of(params, m.ActorType.OPERATOR),
                event_id=params.event_id,
            )
        )

    async def forum_priority(self, params: m.PriorityParams) -> dict[str, Any]:
        return await self._command(
            fs.SetPriority(
                params.thread_id,
                params.priority,
                m.actor_of(params, m.ActorType.OPERATOR),
                event_id=params.event_id,
            )
        )

    async def forum_close(self, params: m.CloseParams) -> dict[str, Any]:
        return await self._command(
            fs.Close(
                params.thread_id, m.actor_of(params, m.ActorType.OPERATOR), event_id=params.event_id
            )
        )

    # -- reads ------------------------------------------------------------------------------

    async def forum_list(self, params: m.ListParams) -> dict[str, Any]:
        for kind, value in (("run id", params.run_id), ("ticket", params.ticket)):
            if value:
                validate_name(kind, value)
        with self.forum_conn() as conn:
            if conn is None:
                return {"threads": []}
            threads = fs.list_threads(
                conn,
                ticket=params.ticket,
                run_id=params.run_id,
                state=params.state,
                priority=params.priority,
                assignee=params.assignee,
                limit=params.limit,
            )
        return {"threads": threads}

    async def forum_thread(self, params: m.ThreadParams) -> dict[str, Any]:
        thread_id = m.check_thread_id(params.thread_id)
        with self.forum_conn() as conn:
            if conn is None:
                raise m.ForumNotFound(f"Forum thread {thread_id} not found.")
            return fs.get_thread(conn, thread_id)

    async def forum_watch(self, params: m.WatchParams) -> dict[str, Any]:
        with self.forum_conn() as conn:
            events = (
                []
                if conn is None
                else fs.list_events(
                    conn,
                    cursor=params.cursor,
                    limit=params.limit,
                    ticket=params.ticket,
                    run_id=params.run_id,
                    thread_id=params.thread_id,
                )
            )
        cursor = events[-1]["sequence"] if events else params.cursor
        return {"events": events, "cursor": cursor}

    async def forum_wait(self, params: m.WaitParams) -> dict[str, Any]:
        """Block until the thread is answered or closed; its state and the answer."""
        thread_id = m.check_thread_id(params.thread_id)
        deadline = anyio.current_time() + params.timeout
        while True:
            with self.forum_conn() as conn:
                seen = fs.last_sequence(conn) if conn is not None else 0
                view = fs.find_view(conn, thread_id) if conn is not None else None
                if view is None:
                    raise m.ForumNotFound(f"forum thread {thread_id} not found")
                if view["state"] in (m.ThreadState.ANSWERED, m.ThreadState.CLOSED):
                    assert conn is not None
                    return {
                        "thread_id": thread_id,
                        "state": view["state"],
                        "answer": fs.last_answer(conn, thread_id),
                    }
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise WaitTimeoutError(
                    f"no answer on forum thread {thread_id} within {params.timeout:g}s",
                    hint=f"wait again, or read it with `metawsm forum thread --thread-id "
                    f"{thread_id}`",
                )
            await self.forum_next_change(remaining, seen)

    async def forum_follow_events(self, params: m.WatchParams) -> AsyncIterator[dict[str, Any]]:
        """Every event after ``params.cursor``, then each new one as it commits."""
        cursor = params.cursor
        while True:
            with self.forum_conn() as conn:
                seen = fs.last_sequence(conn) if conn is not None else 0
            page = await self.forum_watch(params.model_copy(update={"cursor": cursor}))
            for event in page["events"]:
                yield event
            cursor = page["cursor"]
            if len(page["events"]) < params.limit:
                await self.forum_next_change(3600.0, seen)


def _pending_all(reader: Reader, thread_id: str, guidance_id: int) -> list[Any]:
    row = reader.conn.execute(
        "SELECT run_id FROM guidance_requests WHERE id = ?", (guidance_id,)
    ).fetchone()
    if row is None:
        return []
    return reader.list_guidance(str(row[0]), pending_only=True)


#: The socket methods of the forum: name, params model, method name.
FORUM_METHODS: dict[str, tuple[type[m._Params], str]] = {
    "forum.ask": (m.AskParams, "forum_ask"),
    "forum.answer": (m.AnswerParams, "forum_answer"),
    "forum.assign": (m.AssignParams, "forum_assign"),
    "forum.state": (m.StateParams, "forum_state"),
    "forum.priority": (m.PriorityParams, "forum_priority"),
    "forum.close": (m.CloseParams, "forum_close"),
    "forum.list": (m.ListParams, "forum_list"),
    "forum.thread": (m.ThreadParams, "forum_thread"),
    "forum.watch": (m.WatchParams, "forum_watch"),
    "forum.wait": (m.WaitParams, "forum_wait"),
}
