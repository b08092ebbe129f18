"""The control socket under hostile input: a malformed message is answered on its own
connection and nothing else notices; held connections never keep other clients waiting."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from metawsm.control.client import ControlClient
from metawsm.control.protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    MAX_DEPTH,
    MAX_LINE_BYTES,
    PARSE_ERROR,
    Notification,
)
from metawsm.control.server import ControlServer

pytestmark = pytest.mark.anyio

#: Every wait in these tests is bounded by this (a hang is a failure, not a slow pass).
LIMIT = 10.0


async def _echo(params: dict[str, Any]) -> Any:
    return {"echo": params}


async def _unsendable(params: dict[str, Any]) -> Any:
    return {"value": object()}


async def _ticks(params: dict[str, Any], send: Any) -> None:
    """A stream that keeps going: a notification every 10 ms."""
    i = 0
    while True:
        await send(Notification(method="tick", params={"i": i}))
        i += 1
        await anyio.sleep(0.01)


def _server(path: Path, **limits: Any) -> ControlServer:
    return ControlServer(
        path, {"echo": _echo, "unsendable": _unsendable}, {"ticks": _ticks}, **limits
    )


@pytest.fixture
async def server(sock_path: Path) -> AsyncIterator[ControlServer]:
    srv = _server(sock_path)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.run)
        yield srv
        tg.cancel_scope.cancel()


class Raw:
    """A bare connection: send any bytes, read one reply line."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)

    async def send(self, payload: bytes) -> None:
        await self.stream.send(payload)

    async def reply(self) -> dict[str, Any]:
        with anyio.fail_after(LIMIT):
            line = await self.reader.receive_until(b"\n", 2 * MAX_LINE_BYTES)
        data: dict[str, Any] = json.loads(line)
        return data

    async def closed(self) -> bool:
        """Whether the server closed this connection (EOF within the limit)."""
        with anyio.fail_after(LIMIT):
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return True
        raise AssertionError(f"expected the connection closed, got {data!r}")


async def _connect(path: Path) -> Raw:
    with anyio.fail_after(LIMIT):
        return Raw(await anyio.connect_unix(path))


async def _eventually(predicate: Callable[[], bool]) -> None:
    """Wait (polling, bounded by LIMIT) until ``predicate`` holds."""
    with anyio.fail_after(LIMIT):
        for _ in itertools.count():
            if predicate():
                return
            await anyio.sleep(0.005)


def _nested_params(levels: int) -> bytes:
    inner = "[" * levels + "]" * levels
    return f'{{"jsonrpc":"2.0","id":9,"method":"echo","params":{{"deep":{inner}}}}}\n'.encode()


MALFORMED: list[tuple[str, bytes, int, Any]] = [
    ("float id", b'{"jsonrpc":"2.0","id":1.5,"method":"echo"}\n', INVALID_REQUEST, None),
    ("list id", b'{"jsonrpc":"2.0","id":[1,2],"method":"echo"}\n', INVALID_REQUEST, None),
    ("object id", b'{"jsonrpc":"2.0","id":{"a":1},"method":"echo"}\n', INVALID_REQUEST, None),
    ("true id", b'{"jsonrpc":"2.0","id":true,"method":"echo"}\n', INVALID_REQUEST, None),
    ("200,000 nested [", b"[" * 200_000 + b"\n", PARSE_ERROR, None),
    ("5,000 levels of params", _nested_params(5_000), PARSE_ERROR, None),
    ("just past the depth bound", _nested_params(MAX_DEPTH), INVALID_REQUEST, 9),
    ("not UTF-8", b'{"jsonrpc":"2.0","id":3,"method":"\xff\xfe"}\n', PARSE_ERROR, None),
    ("a bare number", b"12345\n", INVALID_REQUEST, None),
]


@pytest.mark.parametrize(
    ("payload", "code", "reply_id"),
    [pytest.param(p, c, i, id=name) for name, p, c, i in MALFORMED],
)
async def test_a_malformed_message_is_answered_on_its_connection_only(
    server: ControlServer, payload: bytes, code: int, reply_id: Any
) -> None:
    # A watch-like stream and an idle client are open while the bad message arrives.
    watcher = await _connect(server.path)
    await watcher.send(b'{"jsonrpc":"2.0","id":1,"method":"ticks"}\n')
    first = await watcher.reply()
    assert first["method"] == "tick"
    bystander = await _connect(server.path)

    bad = await _connect(server.path)
    await bad.send(payload)
    reply = await bad.reply()
    assert reply["error"]["code"] == code, reply
    assert reply["id"] == reply_id
    # The same connection still takes a good request after its error.
    await bad.send(b'{"jsonrpc":"2.0","id":2,"method":"echo","params":{"after":1}}\n')
    assert (await bad.reply())["result"] == {"echo": {"after": 1}}

    # Nobody else noticed: the stream goes on where it was, the bystander is answered.
    seen = [first["params"]["i"]]
    for _ in range(5):
        seen.append((await watcher.reply())["params"]["i"])
    assert seen == list(range(seen[0], seen[0] + 6))
    await bystander.send(b'{"jsonrpc":"2.0","id":7,"method":"echo"}\n')
    assert (await bystander.reply())["id"] == 7
    for conn in (watcher, bystander, bad):
        await conn.stream.aclose()


async def test_nesting_within_the_bound_is_served(server: ControlServer) -> None:
    conn = await _connect(server.path)
    await conn.send(_nested_params(MAX_DEPTH - 3))
    reply = await conn.reply()
    assert reply["id"] == 9 and "result" in reply and reply["error"] is None
    await conn.stream.aclose()


async def test_a_result_that_cannot_be_sent_is_an_internal_error(server: ControlServer) -> None:
    conn = await _connect(server.path)
    await conn.send(b'{"jsonrpc":"2.0","id":4,"method":"unsendable"}\n')
    reply = await conn.reply()
    assert reply["id"] == 4 and reply["error"]["code"] == INTERNAL_ERROR
    await conn.send(b'{"jsonrpc":"2.0","id":5,"method":"echo"}\n')
    assert (await conn.reply())["id"] == 5
    await conn.stream.aclose()


async def test_idle_connections_are_closed_and_busy_ones_kept(sock_path: Path) -> None:
    srv = _server(sock_path, idle_timeout=0.3)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.run)
        silent = await _connect(sock_path)
        partial = await _connect(sock_path)
        await partial.send(b'{"jsonrpc":"2.0","id":1,')  # never finishes its line
        watcher = await _connect(sock_path)
        await watcher.send(b'{"jsonrpc":"2.0","id":1,"method":"ticks"}\n')
        assert await silent.closed()
        assert await partial.closed()
        # A stream is a request under way, however long it lasts.
        ticks = [(await watcher.reply())["params"]["i"] for _ in range(50)]
        assert ticks == list(range(50))
        async with ControlClient(sock_path, timeout=LIMIT) as client:
            assert await client.call("echo") == {"echo": {}}
        for conn in (silent, partial, watcher):
            await conn.stream.aclose()
        tg.cancel_scope.cancel()


async def test_one_process_holding_many_connections_is_capped(sock_path: Path) -> None:
    srv = _server(sock_path, max_per_peer=5, max_clients=100)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.run)
        held = [await _connect(sock_path) for _ in range(5)]
        extra = await _connect(sock_path)
        reply = await extra.reply()
        assert reply["error"]["code"] == INVALID_REQUEST
        assert "too many connections from process" in reply["error"]["message"]
        assert await extra.closed()
        # The held ones still work; once one is given back, a new one is taken.
        await held[0].send(b'{"jsonrpc":"2.0","id":1,"method":"echo"}\n')
        assert (await held[0].reply())["id"] == 1
        await held.pop().stream.aclose()
        await _eventually(lambda: srv.clients == 4)
        async with ControlClient(sock_path, timeout=LIMIT) as client:
            assert await client.call("echo") == {"echo": {}}
        for conn in [*held, extra]:
            await conn.stream.aclose()
        tg.cancel_scope.cancel()


async def test_at_capacity_a_new_client_replaces_the_longest_idle(sock_path: Path) -> None:
    srv = _server(sock_path, max_clients=10, max_per_peer=1000)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.run)
        held = []
        for _ in range(10):
            held.append(await _connect(sock_path))
            await _eventually(lambda: srv.clients == len(held))
        # Full of idle connections: a new client is answered, the oldest idle one gives way.
        async with ControlClient(sock_path, timeout=LIMIT) as client:
            assert await client.call("echo", {"n": 1}) == {"echo": {"n": 1}}
        assert await held[0].closed()
        assert srv.clients <= 10
        # Full of requests under way (streams): a new client is told so, not left waiting.
        streams = held[1:]
        for conn in streams:
            await conn.send(b'{"jsonrpc":"2.0","id":1,"method":"ticks"}\n')
            await conn.reply()
        filler = await _connect(sock_path)
        await filler.send(b'{"jsonrpc":"2.0","id":1,"method":"ticks"}\n')
        await filler.reply()
        refused = await _connect(sock_path)
        reply = await refused.reply()
        assert "busy" in reply["error"]["message"]
        for conn in [*held, filler, refused]:
            await conn.stream.aclose()
        tg.cancel_scope.cancel()


async def test_200_idle_connections_do_not_starve_a_new_client(sock_path: Path) -> None:
    # One process may hold this many here, so the capacity rule is what is tested (the per-peer
    # cap has its own test; the CLI in another process is in tests/supervisor).
    srv = _server(sock_path, max_per_peer=1000)
    async with anyio.create_task_group() as tg:
        await tg.start(srv.run)
        await _many_idle_then_a_call(srv)
        tg.cancel_scope.cancel()


async def _many_idle_then_a_call(server: ControlServer) -> None:
    held = [await _connect(server.path) for _ in range(200)]
    async with ControlClient(server.path, timeout=LIMIT) as client:
        assert await client.call("echo", {"still": "answered"}) == {"echo": {"still": "answered"}}
    for conn in held:
        await conn.stream.aclose()
