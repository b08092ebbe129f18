"""The CLI side of the control socket."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from metawsm.control.protocol import MAX_LINE_BYTES, Notification, Request, Response, raise_for
from metawsm.errors import MetawsmError


class SupervisorUnreachable(MetawsmError):
    """No supervisor answers on the control socket."""


class ControlClient:
    """One connection to ``metawsm serve``: ``call`` a method, or follow a ``stream``."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._stream: SocketStream | None = None
        self._reader: BufferedByteReceiveStream | None = None

    async def __aenter__(self) -> ControlClient:
        try:
            with anyio.fail_after(self.timeout):
                self._stream = await anyio.connect_unix(self.path)
        except (OSError, TimeoutError) as exc:
            raise SupervisorUnreachable(
                f"no supervisor answers on {self.path}: {exc}",
                hint="start one with `metawsm serve` in the metawsm root",
            ) from None
        self._reader = BufferedByteReceiveStream(self._stream)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.aclose()

    async def _send(self, method: str, params: dict[str, Any]) -> int:
        assert self._stream is not None
        request_id = next(self._ids)
        line = Request(id=request_id, method=method, params=params).model_dump_json()
        await self._stream.send(line.encode() + b"\n")
        return request_id

    async def _receive(self) -> dict[str, Any]:
        assert self._reader is not None
        try:
            line = await self._reader.receive_until(b"\n", MAX_LINE_BYTES)
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            raise SupervisorUnreachable(
                "the supervisor closed the connection",
                hint="see the supervisor's log in .metawsm/logs/",
            ) from exc
        data: dict[str, Any] = json.loads(line)
        return data

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Call ``method`` and return its result, raising its typed error."""
        with anyio.fail_after(timeout if timeout is not None else self.timeout):
            await self._send(method, params or {})
            response = Response.model_validate(await self._receive())
        if response.error is not None:
            raise_for(response.error)
        return response.result

    async def stream(
        self, method: str, params: dict[str, Any] | None = None
    ) -> AsyncIterator[Notification]:
        """Follow a stream method: yield its notifications until it ends."""
        await self._send(method, params or {})
        while True:
            data = await self._receive()
            if "id" in data:
                response = Response.model_validate(data)
                if response.error is not None:
                    raise_for(response.error)
                return
            yield Notification.model_validate(data)
