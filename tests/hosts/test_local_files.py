"""LocalHost's file calls for files anyone may plant: ``read_regular`` and ``lstat_many`` on real
pipes, links, folders and sockets, and time bounds that hold when a file call does not return."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from metawsm.hosts import LocalHost, NotRegularFile

pytestmark = pytest.mark.anyio

#: No call here takes this long; a call that blocks fails the test instead of hanging it.
LIMIT = 5.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def unblocker() -> Iterator[list[Path]]:
    """Pipes a test registers here are opened for writing at teardown, so a reader that did
    block in ``open()`` (the bug) is released and the thread ends instead of hanging pytest."""
    pipes: list[Path] = []
    yield pipes
    for pipe in pipes:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue  # no reader waits on it: nothing to release
        os.close(fd)


async def test_a_regular_file_is_read_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(b"x" * 200_000)
    host = LocalHost()
    with anyio.fail_after(LIMIT):
        assert await host.read_regular(str(path), limit=10) == b"x" * 10
        assert len(await host.read_regular(str(path), limit=150_000)) == 150_000
        assert len(await host.read_regular(str(path), limit=10**9)) == 200_000
        with pytest.raises(FileNotFoundError):
            await host.read_regular(str(tmp_path / "absent"), limit=10)


async def test_a_pipe_is_refused_without_blocking(tmp_path: Path, unblocker: list[Path]) -> None:
    pipe = tmp_path / "guidance-request.json"
    os.mkfifo(pipe)
    unblocker.append(pipe)
    with anyio.fail_after(LIMIT), pytest.raises(NotRegularFile) as info:
        await LocalHost().read_regular(str(pipe), limit=100)
    assert info.value.what == "a named pipe"
    assert isinstance(info.value, OSError)


async def test_links_are_never_followed(tmp_path: Path, unblocker: list[Path]) -> None:
    target = tmp_path / "secret"
    target.write_text("not yours")
    link = tmp_path / "to-file.json"
    link.symlink_to(target)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    unblocker.append(pipe)
    to_pipe = tmp_path / "to-pipe.json"
    to_pipe.symlink_to(pipe)
    host = LocalHost()
    with anyio.fail_after(LIMIT):
        for path in (link, to_pipe):
            with pytest.raises(NotRegularFile) as info:
                await host.read_regular(str(path), limit=100)
            assert info.value.what == "a symbolic link"
        # lstat_many reports the links as links; stat_many follows them.
        lstats = await host.lstat_many([str(link), str(to_pipe), str(tmp_path / "absent")])
        stats = await host.stat_many([str(link), str(to_pipe)])
    assert [s is not None and not isinstance(s, OSError) and s.is_link for s in lstats[:2]] == [
        True,
        True,
    ]
    assert lstats[2] is None
    first, second = stats
    assert first is not None and not isinstance(first, OSError) and first.is_regular
    assert second is not None and not isinstance(second, OSError)
    assert stat.S_ISFIFO(second.mode)


async def test_a_folder_and_a_socket_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dir.json"
    folder.mkdir()
    with tempfile.TemporaryDirectory(prefix="mw-") as short:
        sock_path = Path(short) / "s.json"
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(sock_path))
            host = LocalHost()
            with anyio.fail_after(LIMIT):
                with pytest.raises(NotRegularFile) as info:
                    await host.read_regular(str(folder), limit=10)
                assert info.value.what == "a directory"
                # A socket cannot even be opened (ENXIO): an OSError, never a hang.
                with pytest.raises(OSError):
                    await host.read_regular(str(sock_path), limit=10)


async def test_a_file_call_that_never_returns_still_honours_the_callers_bound(
    tmp_path: Path, unblocker: list[Path]
) -> None:
    """A plain ``read_bytes`` of a pipe blocks its thread in ``open()``; the caller's time bound
    must still end the wait (the thread is abandoned and released at teardown)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    unblocker.append(pipe)
    host = LocalHost()
    done = threading.Event()
    with anyio.move_on_after(0.5) as bound:
        await host.read_bytes(str(pipe))
        done.set()
    assert bound.cancelled_caught and not done.is_set()
