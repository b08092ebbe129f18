"""The control socket: NDJSON JSON-RPC over a real unix socket, owner-only, typed errors."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metawsm.control.client import ControlClient, SupervisorUnreachable
from metawsm.control.protocol import MAX_LINE_BYTES, Notification
from metawsm.control.server import ControlServer
from metawsm.errors import NotFoundError, TransitionError, UsageError

pytestmark = pytest.mark.anyio


async def _echo(params: dict[str, Any]) -> Any:
    return {"echo": params}


async def _missing(params: dict[str, Any]) -> Any:
    raise NotFoundError(f"no run {params.get('run_id')}", hint="list runs with `metawsm runs`")


async def _illegal(params: dict[str, Any]) -> Any:
    raise TransitionError("illegal run transition closed -> running")


async def _bug(params: dict[str, Any]) -> Any:
    raise ZeroDivisionError("oops")


async def _count(params: dict[str, Any], send: Any) -> None:
    for i in range(int(params["n"])):
        await send(Notification(method="tick", params={"i": i}))


@pytest.fixture
async def server(sock_path: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(
        sock_path,
        {"echo": _echo, "missing": _missing, "illegal": _illegal, "bug": _bug},
        {"count": _count},
    )
    async with anyio.create_task_group() as tg:
        await tg.start(srv.run)
        yield srv
        tg.cancel_scope.cancel()


async def test_a_call_returns_the_methods_result(server: ControlServer) -> None:
    async with ControlClient(server.path) as client:
        assert await client.call("echo", {"a": 1}) == {"echo": {"a": 1}}
        assert await client.call("echo", {"b": "x"}) == {"echo": {"b": "x"}}


async def test_socket_is_owner_only(server: ControlServer) -> None:
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(server.path.parent).st_mode) == 0o700


async def test_typed_errors_cross_the_socket_with_their_hint(server: ControlServer) -> None:
    async with ControlClient(server.path) as client:
        with pytest.raises(NotFoundError) as info:
            await client.call("missing", {"run_id": "r1"})
        assert info.value.message == "no run r1"
        assert info.value.hint == "list runs with `metawsm runs`"
        with pytest.raises(TransitionError):
            await client.call("illegal")
        # The connection survives an error reply.
        assert await client.call("echo") == {"echo": {}}


async def test_unknown_method_is_a_usage_error(server: ControlServer) -> None:
    async with ControlClient(server.path) as client:
        with pytest.raises(UsageError, match="unknown method 'nope'"):
            await client.call("nope")


async def test_a_bug_in_a_method_is_reported_not_fatal(server: ControlServer) -> None:
    async with ControlClient(server.path) as client:
        with pytest.raises(Exception, match="internal error: ZeroDivisionError"):
            await client.call("bug")
        assert await client.call("echo", {"still": "up"}) == {"echo": {"still": "up"}}


async def _raw_exchange(path: Path, payload: bytes) -> dict[str, Any]:
    async with await anyio.connect_unix(path) as stream:
        await stream.send(payload)
        data = b""
        while not data.endswith(b"\n"):
            data += await stream.receive()
        result: dict[str, Any] = json.loads(data)
        return result


async def test_garbage_gets_a_parse_error(server: ControlServer) -> None:
    reply = await _raw_exchange(server.path, b"{not json\n")
    assert reply["error"]["code"] == -32700


async def test_a_non_request_gets_invalid_request(server: ControlServer) -> None:
    reply = await _raw_exchange(server.path, b'{"jsonrpc": "1.0", "method": "echo", "id": 7}\n')
    assert reply["error"]["code"] == -32600
    assert reply["id"] == 7


async def test_an_overlong_line_is_refused_and_the_server_lives(server: ControlServer) -> None:
    reply = await _raw_exchange(server.path, b"x" * (MAX_LINE_BYTES + 10) + b"\n")
    assert reply["error"]["code"] == -32600
    async with ControlClient(server.path) as client:
        assert await client.call("echo") == {"echo": {}}


async def test_a_stream_sends_notifications_then_ends(server: ControlServer) -> None:
    async with ControlClient(server.path) as client:
        seen = [note.params["i"] async for note in client.stream("count", {"n": 5})]
    assert seen == [0, 1, 2, 3, 4]


async def test_a_client_that_leaves_mid_stream_does_not_hurt_the_server(
    server: ControlServer,
) -> None:
    async with ControlClient(server.path) as client:
        async for note in client.stream("count", {"n": 100000}):
            if note.params["i"] == 3:
                break
    async with ControlClient(server.path) as client:
        assert await client.call("echo") == {"echo": {}}


async def test_many_clients_at_once(server: ControlServer) -> None:
    results: list[Any] = []

    async def one(i: int) -> None:
        async with ControlClient(server.path) as client:
            results.append(await client.call("echo", {"i": i}))

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(one, i)
    assert sorted(r["echo"]["i"] for r in results) == list(range(50))


def _leave_stale_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("left by a supervisor that was killed")


async def test_a_stale_socket_file_is_replaced(sock_path: Path) -> None:
    _leave_stale_file(sock_path)
    srv = ControlServer(sock_path, {"echo": _echo})
    async with anyio.create_task_group() as tg:
        await tg.start(srv.run)
        async with ControlClient(sock_path) as client:
            assert await client.call("echo") == {"echo": {}}
        tg.cancel_scope.cancel()
    assert not await anyio.Path(sock_path).exists()


async def test_no_supervisor_is_a_clear_error(sock_path: Path) -> None:
    with pytest.raises(SupervisorUnreachable) as info:
        async with ControlClient(sock_path):
            pass
    assert info.value.hint is not None and "metawsm serve" in info.value.hint
