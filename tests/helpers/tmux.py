"""Private tmux servers for tests, and small helpers to drive agent panes.

Every server here is ``-L metawsm-test-<random>`` under a short private ``TMUX_TMPDIR`` (set for
the whole test by :func:`tmux_tmpdir`), so no test can reach the user's own tmux server, not
even by passing ``socket=""``. Teardown kills the server, removes its socket file, and
FAILS the test if the test left any session behind (after killing them all the same).

Use from any test package: import the fixtures into that package's ``conftest.py``::

    from tests.helpers.tmux import make_tmux_server, tmux_server, tmux_tmpdir  # noqa: F401

The fixtures are async (anyio): the package must define ``anyio_backend``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import pytest

from metawsm.hosts import CommandResult, Host, LocalHost
from metawsm.hosts.tmux import PaneState, TmuxServer

__all__ = [
    "SOCKET_PREFIX",
    "EnvHost",
    "LeftoverSessions",
    "capture_until",
    "make_tmux_server",
    "private_tmux_server",
    "sh",
    "socket_file",
    "tmux_server",
    "tmux_session",
    "tmux_tmpdir",
    "unique_socket_name",
    "wait_for_pane",
]

SOCKET_PREFIX = "metawsm-test-"
_GONE = re.compile(r"no server running|\(No such file or directory\)")


class LeftoverSessions(AssertionError):
    """A test ended with sessions still on its private server."""


def unique_socket_name() -> str:
    """A fresh ``-L`` name: ``metawsm-test-<8 hex>``."""
    return f"{SOCKET_PREFIX}{secrets.token_hex(4)}"


def socket_file(name: str) -> str:
    """Where tmux puts the socket of ``-L name`` on this machine (``$TMUX_TMPDIR`` or /tmp)."""
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    return os.path.join(base, f"tmux-{os.getuid()}", name)


def sh(script: str, *args: str) -> list[str]:
    """argv running a constant ``/bin/sh`` script with ``args`` as ``$1``... (never spliced)."""
    return ["/bin/sh", "-c", script, "sh", *args]


class EnvHost(LocalHost):
    """This machine as a host that adds fixed variables to every command's environment (e.g.
    ``TMUX_TMPDIR`` or ``PATH`` for one server only)."""

    def __init__(self, env: Mapping[str, str], name: str = "local") -> None:
        super().__init__(name)
        self.extra = dict(env)

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        merged = {**self.extra, **(env or {})}
        return await super().run(
            argv, cwd=cwd, env=merged, timeout=timeout, check=check, stdin=stdin
        )


# -- lifecycle ---------------------------------------------------------------------------------


async def _teardown(server: TmuxServer) -> list[str]:
    """Kill the server and delete its socket file; return the sessions it still had.

    tmux 3.3a leaves its socket file behind when the server exits (``kill-server`` or the last
    session ending), so the file is removed here once no server answers on it.
    """
    with anyio.CancelScope(shield=True):
        leftovers = await server.list_sessions()
        await server.kill_server()
        for _ in range(500):  # up to ~5 s for the server process to go
            probe = await server.run("list-sessions")
            if not probe.ok and _GONE.search(probe.stderr):
                break
            await anyio.sleep(0.01)
        else:
            raise AssertionError(f"{server.label} still answers after kill-server")
        path = server.socket if "/" in server.socket else socket_file(server.socket)
        await server.host.remove(path)
        if await server.host.stat(path) is not None:
            raise AssertionError(f"tmux socket {path} still exists after teardown")
    return leftovers


@asynccontextmanager
async def private_tmux_server(
    host: Host | None = None, *, timeout: float = 10.0
) -> AsyncIterator[TmuxServer]:
    """A :class:`TmuxServer` on a fresh ``-L`` name; on a normal exit, kill it and raise
    :class:`LeftoverSessions` if sessions remained (they are killed first either way)."""
    server = TmuxServer(host or LocalHost(), unique_socket_name(), timeout=timeout)
    try:
        yield server
    except BaseException:
        await _teardown(server)
        raise
    leftovers = await _teardown(server)
    if leftovers:
        raise LeftoverSessions(f"tmux sessions left behind by the test: {', '.join(leftovers)}")


@asynccontextmanager
async def tmux_session(
    server: TmuxServer,
    name: str,
    *,
    cwd: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[str]:
    """A session that exists for the ``async with`` body and is killed after it."""
    await server.new_session(name, cwd=cwd, argv=argv, env=env or {})
    try:
        yield name
    finally:
        with anyio.CancelScope(shield=True):
            await server.kill_session(name)


async def wait_for_pane(
    server: TmuxServer,
    name: str,
    predicate: Callable[[PaneState], bool],
    *,
    timeout: float = 5.0,
    interval: float = 0.02,
) -> PaneState:
    """Poll snapshots until ``name``'s pane satisfies ``predicate``; fail after ``timeout``."""
    last: PaneState | None = None
    with anyio.move_on_after(timeout):
        while True:
            last = (await server.snapshot()).get(name)
            if last is not None and predicate(last):
                return last
            await anyio.sleep(interval)
    raise AssertionError(f"pane of {name} did not reach the expected state in {timeout}s: {last}")


async def capture_until(server: TmuxServer, name: str, needle: str, *, timeout: float = 5.0) -> str:
    """Capture ``name``'s pane until it shows ``needle``: tmux draws a pane's last output and
    its "Pane is dead" line a moment after the exit is known (seen under load)."""
    text = ""
    with anyio.move_on_after(timeout):
        while needle not in text:
            text = await server.capture(name)
            if needle in text:
                break
            await anyio.sleep(0.02)
    return text


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def tmux_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A short private ``TMUX_TMPDIR`` for the test (socket paths must stay under 108 bytes)."""
    path = tempfile.mkdtemp(prefix="mwt-", dir="/tmp")
    monkeypatch.setenv("TMUX_TMPDIR", path)
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("TMUX_PANE", raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def tmux_server(tmux_tmpdir: str) -> AsyncIterator[TmuxServer]:
    """A private tmux server; the test fails if it leaves a session behind."""
    try:
        async with private_tmux_server() as server:
            yield server
    except LeftoverSessions as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
async def make_tmux_server(
    tmux_tmpdir: str,
) -> AsyncIterator[Callable[..., Awaitable[TmuxServer]]]:
    """``await make_tmux_server(host=None, timeout=10.0)`` → one more private server, torn
    down (with the same leftover check) at the end of the test."""
    try:
        async with AsyncExitStack() as stack:

            async def make(host: Host | None = None, *, timeout: float = 10.0) -> TmuxServer:
                return await stack.enter_async_context(private_tmux_server(host, timeout=timeout))

            yield make
    except LeftoverSessions as exc:
        pytest.fail(str(exc), pytrace=False)
