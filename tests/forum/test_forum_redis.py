"""The Redis Streams export against a real ``redis-server`` (Debian's), started here on a free
loopback port with no persistence: in-order delivery with event ids, an outage during which
commands keep working and after which every event written is delivered (none twice), a
consumer replaying from an id, and commands read from ``<stream>.commands``."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis

from actors import Mailbox
from metawsm.forum import model as m
from metawsm.forum.actor import ForumActor
from metawsm.forum.redis_export import RedisExport, _Ops, export_lag
from metawsm.store.client import StoreClient
from metawsm.store.ops import AnyOp, WriteResult
from metawsm.store.writer import StoreWriter, Write
from metawsm.supervisor.environment import Environment

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process: no RDB, no AOF, loopback only."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is missing: `make test` installs it (apt redis-server)"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class PokingStore(StoreClient):
    """Pokes the forum actor after each committed write, as the supervisor's store does."""

    def __init__(self, ref: Any) -> None:
        super().__init__(ref)
        self.actor: ForumActor | None = None

    async def write(self, *ops: AnyOp) -> WriteResult:
        result = await super().write(*ops)
        if self.actor is not None:
            self.actor.poke()
        return result


@pytest.fixture
async def forum(
    tmp_path: Path, redis_server: RedisServer
) -> AsyncIterator[tuple[Environment, _Ops]]:
    (tmp_path / ".metawsm").mkdir()
    policy = {"forum": {"redis": {"enabled": True, "url": f"redis://127.0.0.1:{redis_server.port}/0",
                                  "stream": "fs", "group": "g", "consumer": "c"}}}  # fmt: skip
    (tmp_path / ".metawsm" / "policy.json").write_text(json.dumps(policy))
    env = Environment.load(root=tmp_path)
    mailbox: Mailbox[Write] = Mailbox("store-writer", 256)
    async with anyio.create_task_group() as tg:
        await tg.start(StoreWriter(env.db_path).run, mailbox)
        store = PokingStore(mailbox.ref)
        actor = ForumActor(env.db_path, [RedisExport(env, store).run])
        store.actor = actor
        await tg.start(actor.run)
        yield env, _Ops(env, store)
        tg.cancel_scope.cancel()
    mailbox.close()


async def _ask(ops: _Ops, title: str) -> str:
    thread = await ops.forum_ask(m.AskParams(ticket="T-1", title=title, body="b"))
    return str(thread["thread_id"])


async def _until(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    """Look at Redis (an outside process: nothing to wait on) every 50 ms, bounded."""
    for _ in range(int(timeout / 0.05)):
        value = await anyio.to_thread.run_sync(predicate)
        if value:
            return value
        await anyio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _entries(server: RedisServer) -> list[dict[str, str]]:
    return [fields for _id, fields in server.client().xrange("fs")]


async def test_events_are_exported_in_order_and_survive_an_outage(
    forum: tuple[Environment, _Ops], redis_server: RedisServer
) -> None:
    env, ops = forum
    for n in range(3):
        await _ask(ops, f"before {n}")
    await _until(lambda: len(_entries(redis_server)) == 3, "the first events")
    first = _entries(redis_server)
    assert [int(e["sequence"]) for e in first] == [1, 2, 3]
    assert [e["type"] for e in first] == ["forum.thread.opened"] * 3
    assert json.loads(first[0]["event"])["event_id"] == first[0]["event_id"]
    await _until(lambda: export_lag(env) == 0, "the cursor after delivery")

    redis_server.stop()
    with anyio.fail_after(10):  # commands never wait for Redis
        during = [await _ask(ops, f"during {n}") for n in range(5)]
    assert export_lag(env) == 5
    redis_server.start()  # no persistence: the stream is empty again
    entries = await _until(lambda: (e := _entries(redis_server)) and len(e) >= 5 and e, "drain")
    ids = [e["event_id"] for e in entries]
    assert len(ids) == len(set(ids)) == 5  # all delivered, none twice
    assert [int(e["sequence"]) for e in entries] == [4, 5, 6, 7, 8]
    assert [json.loads(e["event"])["thread_id"] for e in entries] == during
    await _until(lambda: export_lag(env) == 0, "the cursor after the drain")

    # A consumer replays from an id: everything after it, in order.
    listed = redis_server.client().xrange("fs")
    after = redis_server.client().xrange("fs", min=f"({listed[1][0]}")
    assert [fields["sequence"] for _id, fields in after] == ["6", "7", "8"]


async def test_commands_from_the_commands_stream_are_applied_and_acknowledged(
    forum: tuple[Environment, _Ops], redis_server: RedisServer
) -> None:
    _env, ops = forum
    client = redis_server.client()
    params = {"ticket": "T-9", "title": "from redis", "body": "hello", "event_id": "r-1"}
    for _ in range(2):  # delivered twice by the producer: applied once (event id)
        client.xadd("fs.commands", {"method": "forum.ask", "params": json.dumps(params)})
    client.xadd("fs.commands", {"method": "forum.nope", "params": "{}"})

    async def listed() -> list[dict[str, Any]]:
        return list((await ops.forum_list(m.ListParams(ticket="T-9")))["threads"])

    for _ in range(600):
        if await listed():
            break
        await anyio.sleep(0.05)
    (thread,) = await listed()
    assert thread["title"] == "from redis"
    await _until(lambda: client.xpending("fs.commands", "g")["pending"] == 0, "the acks")
    assert client.xlen("fs.commands") == 3
    await _until(lambda: any(e["event_id"] == "r-1" for e in _entries(redis_server)), "the export")
