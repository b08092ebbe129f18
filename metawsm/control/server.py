"""The control server: accepts CLI connections on the unix socket and dispatches requests.

Each connection is a task; requests on one connection are answered in order. A method is an
async function taking the validated ``params`` dict; a stream method also gets a ``send``
callable and pushes notifications until it returns or the client leaves.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketListener, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream
from pydantic import ValidationError

from metawsm.control.protocol import (
    INVALID_REQUEST,
    MAX_LINE_BYTES,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ErrorObject,
    Notification,
    Request,
    Response,
    error_for,
)

log = logging.getLogger("metawsm.control")

Method = Callable[[dict[str, Any]], Awaitable[Any]]
Send = Callable[[Notification], Awaitable[None]]
StreamMethod = Callable[[dict[str, Any], Send], Awaitable[None]]

#: How long a client may take to send the rest of a line before it is dropped.
READ_TIMEOUT = 300.0


def prepare_socket_path(path: Path) -> None:
    """Make the folder owner-only and remove a stale socket file.

    Call only while holding the supervisor lock: the lock, not the socket file, says whether
    a supervisor is alive, so a socket file found here was left by one that died.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    if path.exists() or path.is_symlink():
        path.unlink()


class ControlServer:
    """Serve ``methods`` and ``streams`` on a unix socket at ``path``."""

    def __init__(
        self,
        path: Path,
        methods: Mapping[str, Method],
        streams: Mapping[str, StreamMethod] | None = None,
        *,
        max_clients: int = 128,
    ) -> None:
        self.path = path
        self.methods = dict(methods)
        self.streams = dict(streams or {})
        self._slots = anyio.CapacityLimiter(max_clients)
        self.clients = 0
        self._streams: set[ByteStream] = set()
        self._work: set[anyio.CancelScope] = set()
        self._closing = False

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled; report started once the socket accepts connections.

        On anyio's asyncio backend, cancelling a task that waits on a unix socket can race with
        the socket's readiness callback (``InvalidStateError`` on a cancelled future; see
        deps-spike §8). So socket waits are never cancelled: the accept loop and the client
        tasks run shielded, and shutdown closes the listener and every client stream, which
        ends their waits cleanly. Work a method is doing is cancelled through its own scope.
        """
        prepare_socket_path(self.path)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            listener = await anyio.create_unix_listener(self.path)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        self._closing = False
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._accept_loop, listener)
                task_status.started()
                try:
                    await anyio.sleep_forever()
                finally:
                    with anyio.CancelScope(shield=True):
                        self._closing = True
                        for scope in list(self._work):
                            scope.cancel()
                        await listener.aclose()
                        for stream in list(self._streams):
                            await stream.aclose()
        finally:
            self.path.unlink(missing_ok=True)

    @contextmanager
    def _work_scope(self) -> Iterator[anyio.CancelScope]:
        """A scope for one method's work, cancelled when the server closes."""
        scope = anyio.CancelScope()
        if self._closing:
            scope.cancel()
        self._work.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._work.discard(scope)

    async def _accept_loop(self, listener: SocketListener) -> None:
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as clients:
                while True:
                    try:
                        stream = await listener.accept()
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        return
                    self._streams.add(stream)
                    clients.start_soon(self._serve_client, stream)

    async def _serve_client(self, stream: ByteStream) -> None:
        async with self._slots:
            self.clients += 1
            try:
                await self._client_loop(stream)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
                pass  # the client left, or the server is closing: nothing to answer
            finally:
                self.clients -= 1
                self._streams.discard(stream)
                await stream.aclose()

    async def _client_loop(self, stream: ByteStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        while True:
            try:
                with anyio.fail_after(READ_TIMEOUT):
                    line = await reader.receive_until(b"\n", MAX_LINE_BYTES)
            except anyio.DelimiterNotFound:
                line = b"x" * (MAX_LINE_BYTES + 1)
            except (anyio.IncompleteRead, TimeoutError):
                return
            if len(line) > MAX_LINE_BYTES:
                message = f"line longer than {MAX_LINE_BYTES} bytes"
                error = ErrorObject(code=INVALID_REQUEST, message=message)
                await _write(stream, Response(error=error))
                return
            if not line.strip():
                continue
            request = await self._parse(stream, line)
            if request is None:
                continue
            if request.method in self.streams:
                await self._run_stream(stream, request)
            else:
                await _write(stream, await self._call(request))

    async def _parse(self, stream: ByteStream, line: bytes) -> Request | None:
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            await _write(
                stream, Response(error=ErrorObject(code=PARSE_ERROR, message=f"not JSON: {exc}"))
            )
            return None
        try:
            return Request.model_validate(data)
        except ValidationError as exc:
            await _write(
                stream,
                Response(
                    id=data.get("id") if isinstance(data, dict) else None,
                    error=ErrorObject(
                        code=INVALID_REQUEST,
                        message=f"not a JSON-RPC 2.0 request: {exc.errors()[0]['msg']}",
                    ),
                ),
            )
            return None

    async def _call(self, request: Request) -> Response:
        method = self.methods.get(request.method)
        if method is None:
            return Response(
                id=request.id,
                error=ErrorObject(
                    code=METHOD_NOT_FOUND, message=f"unknown method {request.method!r}"
                ),
            )
        try:
            with self._work_scope() as scope:
                result = await method(request.params)
            if scope.cancel_called:
                raise anyio.ClosedResourceError  # shutting down: the reply cannot be sent
        except anyio.ClosedResourceError:
            raise
        except Exception as exc:
            if not _expected(exc):
                log.exception("control method %s failed", request.method)
            return Response(id=request.id, error=error_for(exc))
        return Response(id=request.id, result=result)

    async def _run_stream(self, stream: ByteStream, request: Request) -> None:
        async def send(note: Notification) -> None:
            await _write(stream, note)

        try:
            with self._work_scope() as scope:
                await self.streams[request.method](request.params, send)
            if scope.cancel_called:
                raise anyio.ClosedResourceError
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise
        except Exception as exc:
            if not _expected(exc):
                log.exception("control stream %s failed", request.method)
            await _write(stream, Response(id=request.id, error=error_for(exc)))
            return
        await _write(stream, Response(id=request.id, result={"end": True}))


def _expected(exc: Exception) -> bool:
    from metawsm.errors import MetawsmError

    return isinstance(exc, (MetawsmError, ValidationError))


async def _write(stream: ByteStream, message: Response | Notification) -> None:
    await stream.send(message.model_dump_json(exclude_none=False).encode() + b"\n")
