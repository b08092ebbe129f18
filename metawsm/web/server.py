"""uvicorn inside the supervisor's event loop, as one child of the actor tree.

The socket is bound here (so port 0 gives a free port and the URL is known before the first
request), uvicorn serves on it without touching the process's signal handlers (``serve`` owns
Ctrl-C), and stopping the child asks uvicorn to exit and waits for it, bounded, instead of
cancelling it half-way (which leaked its connections).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import anyio
import uvicorn
from anyio.abc import TaskStatus
from starlette.types import ASGIApp

from metawsm.errors import UsageError
from metawsm.web.access import Access, is_loopback

log = logging.getLogger("metawsm.web")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7780
#: How long uvicorn may take to finish open requests (event streams are cut) when stopping.
GRACEFUL_SECONDS = 1


@dataclass(frozen=True)
class WebAddress:
    host: str
    port: int


def parse_address(value: str) -> WebAddress:
    """``--web`` values: empty (``127.0.0.1:7780``), ``PORT``, ``HOST`` or ``HOST:PORT``
    (IPv6 as ``[::1]:PORT``)."""
    text = value.strip()
    if not text:
        return WebAddress(DEFAULT_HOST, DEFAULT_PORT)
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"--web {value!r}: unclosed '['", hint="--web [::1]:7780")
        host, rest = text[1:end], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.isdigit():
        host, port_text = DEFAULT_HOST, text
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if port_text and not port_text.isdigit():
        raise UsageError(f"--web {value!r}: the port must be a number", hint="--web 127.0.0.1:7780")
    port = int(port_text) if port_text else DEFAULT_PORT
    if not 0 <= port <= 65535:
        raise UsageError(f"--web {value!r}: port {port} is out of range")
    return WebAddress(host or DEFAULT_HOST, port)


def bind(address: WebAddress) -> socket.socket:
    """A listening socket on ``address`` (a clear error when it cannot be had)."""
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address.host, address.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot serve the dashboard on {address.host}:{address.port}: {exc.strerror}",
            hint="pick another port: --web 127.0.0.1:0 takes a free one",
        ) from exc
    sock.setblocking(False)
    return sock


class _InLoopServer(uvicorn.Server):
    """uvicorn without its signal handlers (the supervisor handles Ctrl-C and SIGTERM), that
    says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def write_url_file(path: Path, url: str) -> None:
    """The URL (with its token) in an owner-only file, for scripts and the operator."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(url + "\n")
    os.replace(partial, path)  # a reader sees the whole URL or no file


class WebDashboard:
    """Serve ``app`` (built by ``make_app`` from the bound :class:`Access`) on ``sock``."""

    def __init__(
        self,
        sock: socket.socket,
        make_app: Callable[[Access], ASGIApp],
        token: str,
        *,
        url_file: Path | None = None,
    ) -> None:
        host, port = sock.getsockname()[:2]
        self.access = Access(host=str(host), port=int(port), token=token)
        self.sock = sock
        self.app = make_app(self.access)
        self.url_file = url_file

    @property
    def url(self) -> str:
        return self.access.url

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            ws="none",
        )
        server = _InLoopServer(config)
        done = anyio.Event()

        async def serve() -> None:
            # Shielded: uvicorn is stopped by should_exit, never cancelled half-way.
            with anyio.CancelScope(shield=True):
                try:
                    await server.serve(sockets=[self.sock])
                finally:
                    done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            try:
                with anyio.fail_after(10):
                    await server.ready.wait()
                if not server.started:
                    raise RuntimeError("the dashboard server stopped while starting")
                if self.url_file is not None:
                    write_url_file(self.url_file, self.url)
                if not is_loopback(self.access.host):
                    log.warning("dashboard bound beyond loopback at %s", self.access.host)
                log.info("dashboard at %s", self.url)
                task_status.started()
                await anyio.sleep_forever()
            finally:
                server.should_exit = True
                with anyio.CancelScope(shield=True), anyio.move_on_after(GRACEFUL_SECONDS + 3):
                    await done.wait()
                if self.url_file is not None:
                    self.url_file.unlink(missing_ok=True)
                self.sock.close()
