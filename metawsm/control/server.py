"""The control server: accepts CLI connections on the unix socket and dispatches requests.

Each connection is a task; requests on one connection are answered in order. A method is an
async function taking the validated ``params`` dict; a stream method also gets a ``send``
callable and pushes notifications until it returns or the client leaves.

Nothing a client sends can hurt another client: a malformed message gets its error reply on its
own connection (a failure inside a connection's task ends that connection at worst, never the
server). Connections are bounded: one that sits idle (no request under way, no complete line
sent) for :data:`IDLE_TIMEOUT` is closed, one process holds at most :data:`MAX_PER_PEER`, and
when :data:`MAX_CLIENTS` are open a new client takes the place of the longest-idle one, so a
pile of held connections never keeps the CLI waiting.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketAttribute, SocketListener, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream
from pydantic import ValidationError

from metawsm.control.protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    MAX_DEPTH,
    MAX_LINE_BYTES,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ErrorObject,
    Notification,
    Request,
    Response,
    error_for,
    nesting_exceeds,
    reply_id,
)

log = logging.getLogger("metawsm.control")

Method = Callable[[dict[str, Any]], Awaitable[Any]]
Send = Callable[[Notification], Awaitable[None]]
StreamMethod = Callable[[dict[str, Any], Send], Awaitable[None]]

#: A connection with no request under way that sends no complete line for this long is closed
#: (a CLI call sends its line at once; a watch stream is a request under way).
IDLE_TIMEOUT = 30.0
#: Connections open at once; past it a new client replaces the longest-idle connection.
MAX_CLIENTS = 128
#: Connections one client process (by its pid, from ``SO_PEERCRED``) may hold at once.
MAX_PER_PEER = 64
#: How long the server waits to hand an error to a client it refuses.
REFUSE_WRITE_TIMEOUT = 1.0


@dataclass(eq=False)
class _Conn:
    """One client connection: its stream, its peer process, and since when it is idle
    (``None`` while a request is under way)."""

    stream: ByteStream
    peer: int | None
    idle_since: float | None


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
        max_clients: int = MAX_CLIENTS,
        max_per_peer: int = MAX_PER_PEER,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.path = path
        self.methods = dict(methods)
        self.streams = dict(streams or {})
        self.max_clients = max_clients
        self.max_per_peer = max_per_peer
        self.idle_timeout = idle_timeout
        self._conns: set[_Conn] = set()
        self._work: set[anyio.CancelScope] = set()
        self._closing = False

    @property
    def clients(self) -> int:
        """Connections open now."""
        return len(self._conns)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen until cancelled; report started once the socket accepts connections.

        On anyio's asyncio backend, cancelling a task that waits on a unix socket can race with
        the socket's readiness callback (``InvalidStateError`` on a cancelled future; see
        deps-spike §8). So socket waits are never cancelled: the accept loop and the client
        tasks run shielded, and shutdown closes the listener and every client stream, which
        ends their waits cleanly; idle connections are ended the same way, by closing them.
        Work a method is doing is cancelled through its own scope.
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
                tg.start_soon(self._reap_idle)
                task_status.started()
                try:
                    await anyio.sleep_forever()
                finally:
                    with anyio.CancelScope(shield=True):
                        self._closing = True
                        for scope in list(self._work):
                            scope.cancel()
                        await listener.aclose()
                        for conn in list(self._conns):
                            await conn.stream.aclose()
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

    async def _reap_idle(self) -> None:
        """Close connections idle past the timeout (closing ends their read cleanly)."""
        interval = min(1.0, max(self.idle_timeout / 4, 0.01))
        while True:
            await anyio.sleep(interval)
            cutoff = time.monotonic() - self.idle_timeout
            for conn in list(self._conns):
                if conn.idle_since is not None and conn.idle_since <= cutoff:
                    await conn.stream.aclose()

    async def _accept_loop(self, listener: SocketListener) -> None:
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as clients:
                while True:
                    try:
                        stream = await listener.accept()
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        return
                    conn = _Conn(stream, _peer_pid(stream), time.monotonic())
                    refusal = await self._admit(conn)
                    if refusal is not None:
                        clients.start_soon(_refuse, stream, refusal)
                        continue
                    self._conns.add(conn)
                    clients.start_soon(self._serve_client, conn)

    async def _admit(self, conn: _Conn) -> str | None:
        """Why ``conn`` is refused, or ``None``; at capacity, the longest-idle one gives way."""
        if conn.peer is not None:
            held = sum(1 for other in self._conns if other.peer == conn.peer)
            if held >= self.max_per_peer:
                return (
                    f"too many connections from process {conn.peer} "
                    f"({held}, at most {self.max_per_peer})"
                )
        if len(self._conns) < self.max_clients:
            return None
        idle = [other for other in self._conns if other.idle_since is not None]
        if not idle:
            return f"the supervisor is busy: {len(self._conns)} requests under way"
        oldest = min(idle, key=lambda other: other.idle_since or 0.0)
        self._conns.discard(oldest)
        await oldest.stream.aclose()
        return None

    async def _serve_client(self, conn: _Conn) -> None:
        try:
            await self._client_loop(conn)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
            pass  # the client left, or the server is closing: nothing to answer
        except Exception:
            # A bug met while serving one connection ends that connection, never the server
            # (an exception here used to crash the accept loop and drop every client).
            log.exception("control connection failed")
        finally:
            self._conns.discard(conn)
            await conn.stream.aclose()

    async def _client_loop(self, conn: _Conn) -> None:
        stream = conn.stream
        reader = BufferedByteReceiveStream(stream)
        while True:
            conn.idle_since = time.monotonic()
            try:
                line = await reader.receive_until(b"\n", MAX_LINE_BYTES)
            except anyio.DelimiterNotFound:
                line = b"x" * (MAX_LINE_BYTES + 1)
            except anyio.IncompleteRead:
                return
            conn.idle_since = None
            if len(line) > MAX_LINE_BYTES:
                message = f"line longer than {MAX_LINE_BYTES} bytes"
                error = ErrorObject(code=INVALID_REQUEST, message=message)
                await _write(stream, Response(error=error))
                return
            if not line.strip():
                continue
            await self._handle_line(stream, line)

    async def _handle_line(self, stream: ByteStream, line: bytes) -> None:
        request = await self._parse(stream, line)
        if request is None:
            return
        if request.method in self.streams:
            await self._run_stream(stream, request)
            return
        response = await self._call(request)
        try:
            payload = _encode(response)
        except Exception as exc:  # a result that does not serialise is the method's bug
            log.exception("control method %s returned what cannot be sent", request.method)
            error = ErrorObject(
                code=INTERNAL_ERROR, message=f"internal error: {type(exc).__name__}: {exc}"
            )
            payload = _encode(Response(id=request.id, error=error))
        await stream.send(payload)

    async def _parse(self, stream: ByteStream, line: bytes) -> Request | None:
        try:
            data = json.loads(line)
        except (ValueError, RecursionError) as exc:
            # ValueError: not JSON or not UTF-8; RecursionError: brackets nested past what the
            # parser recurses through (200,000 `[` crashed the server before).
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            await _write(
                stream,
                Response(error=ErrorObject(code=PARSE_ERROR, message=f"not JSON: {detail}")),
            )
            return None
        if nesting_exceeds(data, MAX_DEPTH):
            error = ErrorObject(
                code=INVALID_REQUEST, message=f"request nested deeper than {MAX_DEPTH} levels"
            )
            await _write(stream, Response(id=reply_id(data), error=error))
            return None
        try:
            return Request.model_validate(data)
        except ValidationError as exc:
            await _write(
                stream,
                Response(
                    id=reply_id(data),
                    error=ErrorObject(
                        code=INVALID_REQUEST,
                        message=f"not a JSON-RPC 2.0 request: {_first_error(exc)}",
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


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    if not errors:  # pragma: no cover - pydantic always reports at least one
        return str(exc)
    where = ".".join(str(part) for part in errors[0]["loc"])
    return f"{where}: {errors[0]['msg']}" if where else str(errors[0]["msg"])


def _peer_pid(stream: ByteStream) -> int | None:
    """The pid of the process at the other end of a unix socket (Linux), else ``None``."""
    peercred = getattr(socket, "SO_PEERCRED", None)
    if peercred is None:
        return None
    try:
        sock = stream.extra(SocketAttribute.raw_socket)
        raw = sock.getsockopt(socket.SOL_SOCKET, peercred, struct.calcsize("3i"))
    except (OSError, anyio.TypedAttributeLookupError):
        return None
    pid: int = struct.unpack("3i", raw)[0]
    return pid or None


async def _refuse(stream: ByteStream, reason: str) -> None:
    """Tell a refused client why (bounded: it may not read), then close."""
    error = ErrorObject(code=INVALID_REQUEST, message=reason)
    with anyio.move_on_after(REFUSE_WRITE_TIMEOUT, shield=True):
        with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await _write(stream, Response(error=error))
    await stream.aclose()


def _encode(message: Response | Notification) -> bytes:
    return message.model_dump_json(exclude_none=False).encode() + b"\n"


async def _write(stream: ByteStream, message: Response | Notification) -> None:
    await stream.send(_encode(message))
