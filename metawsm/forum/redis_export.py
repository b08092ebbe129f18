"""The Redis Streams export (``forum.redis.enabled``): every forum event to
``forum.redis.stream``, and commands from other programs read from ``<stream>.commands``.

**The outbox is the event log.** Every forum event is already durable in ``forum_events``
with its global ``sequence``, committed in the same transaction as the command; the export's
cursor (``forum_exports``, exporter ``redis``) says how far Redis has it, and advances only
after ``XADD`` succeeded. So delivery is at least once and in sequence order, each message
carries its ``event_id`` (and ``sequence``) for consumers to drop duplicates, and a Redis
outage never blocks or fails a forum command: the export retries with a jittered backoff and
drains the backlog when Redis is back. ``status`` shows the lag (events past the cursor).

Commands: ``XREADGROUP`` as ``forum.redis.consumer`` of group ``forum.redis.group`` on
``<stream>.commands``; a message's ``method`` (``forum.ask``, ``forum.answer``, ...) and
``params`` (JSON) are applied as the CLI's would be, then acknowledged (a refused command too:
it is logged and acknowledged, never retried forever).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from metawsm.errors import MetawsmError
from metawsm.forum import store as fs
from metawsm.forum.actor import Wake
from metawsm.forum.docs_sync import cursor_op, read_cursor
from metawsm.forum.service import FORUM_METHODS, ForumOps
from metawsm.store.client import WriteHelpers
from metawsm.store.db import connect
from metawsm.supervisor.environment import Environment

log = logging.getLogger("metawsm.forum.redis")

EXPORTER = "redis"
BATCH = 500
BACKOFF_FIRST = 0.2
BACKOFF_CAP = 5.0
COMMAND_BLOCK_MS = 1000
#: Read-only methods are not commands.
WRITE_METHODS = frozenset(
    {
        "forum.ask",
        "forum.answer",
        "forum.assign",
        "forum.state",
        "forum.priority",
        "forum.close",
    }
)


def message_fields(event: dict[str, Any]) -> dict[str, str]:
    """The stream entry of one event."""
    return {
        "event_id": event["event_id"],
        "sequence": str(event["sequence"]),
        "type": event["type"],
        "thread_id": event["thread_id"],
        "event": json.dumps(event, sort_keys=True),
    }


class _Ops(ForumOps):
    def __init__(self, env: Environment, store: WriteHelpers) -> None:
        self.env = env
        self._store = store

    @asynccontextmanager
    async def write_store(self) -> AsyncIterator[WriteHelpers]:
        yield self._store


def export_lag(env: Environment) -> int | None:
    """Events not in Redis yet; None when the export is off or nothing was written."""
    if not env.policy.forum.redis.enabled or not env.db_path.exists():
        return None
    conn = connect(env.db_path, readonly=True)
    try:
        return max(0, fs.last_sequence(conn) - read_cursor(conn, EXPORTER))
    finally:
        conn.close()


class RedisExport:
    """The export and the command reader; :meth:`run` is a task of the forum actor."""

    def __init__(self, env: Environment, store: WriteHelpers) -> None:
        self.env = env
        self.store = store
        self.settings = env.policy.forum.redis
        self.ops = _Ops(env, store)

    def _client(self) -> Any:
        import redis.asyncio as aioredis

        return aioredis.from_url(
            self.settings.url,
            decode_responses=True,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
        )

    async def run(self, wake: Wake) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._export, wake)
            tg.start_soon(self._commands)

    # -- events out -------------------------------------------------------------------------

    async def _export(self, wake: Wake) -> None:
        client = self._client()
        delay = BACKOFF_FIRST
        try:
            while True:
                try:
                    more = await self._send_batch(client)
                    delay = BACKOFF_FIRST
                except Exception as exc:  # redis.ConnectionError, TimeoutError, ...
                    if isinstance(exc, anyio.get_cancelled_exc_class()):
                        raise
                    log.warning("redis export paused: %s", exc)
                    with contextlib.suppress(MetawsmError):
                        await self.store.write(cursor_op(EXPORTER, 0, str(exc)[:500]))
                    await anyio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(BACKOFF_CAP, delay * 2)
                    continue
                if not more:
                    await wake.wait(timeout=BACKOFF_CAP)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await client.aclose()

    async def _send_batch(self, client: Any) -> bool:
        conn = connect(self.env.db_path, readonly=True)
        try:
            cursor = read_cursor(conn, EXPORTER)
            events = fs.list_events(conn, cursor=cursor, limit=BATCH)
        finally:
            conn.close()
        if not events:
            return False
        async with client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(self.settings.stream, message_fields(event))
            await pipe.execute()
        await self.store.write(cursor_op(EXPORTER, events[-1]["sequence"]))
        return len(events) == BATCH

    # -- commands in ------------------------------------------------------------------------

    async def _commands(self) -> None:
        client = self._client()
        stream = f"{self.settings.stream}.commands"
        delay = BACKOFF_FIRST
        try:
            while True:
                try:
                    await self._ensure_group(client, stream)
                    while True:
                        replies = await client.xreadgroup(
                            self.settings.group,
                            self.settings.consumer,
                            {stream: ">"},
                            count=100,
                            block=COMMAND_BLOCK_MS,
                        )
                        delay = BACKOFF_FIRST
                        for _name, messages in replies or []:
                            for message_id, fields in messages:
                                await self._apply(fields)
                                await client.xack(stream, self.settings.group, message_id)
                except Exception as exc:
                    if isinstance(exc, anyio.get_cancelled_exc_class()):
                        raise
                    log.warning("redis command reader paused: %s", exc)
                    await anyio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(BACKOFF_CAP, delay * 2)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                await client.aclose()

    async def _ensure_group(self, client: Any, stream: str) -> None:
        import redis

        try:
            await client.xgroup_create(stream, self.settings.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _apply(self, fields: dict[str, str]) -> None:
        method = fields.get("method", "")
        if method not in WRITE_METHODS:
            log.warning("redis command refused: unknown method %r", method)
            return
        model, attr = FORUM_METHODS[method]
        try:
            params = model.model_validate(json.loads(fields.get("params", "{}") or "{}"))
            await getattr(self.ops, attr)(params)
        except (MetawsmError, ValueError) as exc:
            log.warning("redis command %s refused: %s", method, exc)
