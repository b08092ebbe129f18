"""One ``list-panes`` per tick, and telling "no sessions" apart from "cannot see the server"."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketStream

from metawsm.hosts import LocalHost
from metawsm.hosts.tmux import Snapshot, TmuxError, TmuxServer, TmuxUnavailable, parse_snapshot
from tests.helpers.tmux import (
    EnvHost,
    private_tmux_server,
    sh,
    socket_file,
    tmux_session,
    wait_for_pane,
)

pytestmark = pytest.mark.anyio


async def test_snapshot_of_30_sessions_is_one_tmux_process(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    names = [f"agent-{i:02d}" for i in range(30)]
    for name in names:
        await tmux_server.new_session(name, cwd=str(tmp_path), argv=["sleep", "1000"], env={})
    try:
        before = tmux_server.calls
        snap = await tmux_server.snapshot()
        assert tmux_server.calls == before + 1
        assert sorted(snap.sessions) == names
        assert all(pane.alive and pane.dead_status is None for pane in snap.sessions.values())
        assert len({pane.pane_id for pane in snap.sessions.values()}) == 30
        assert abs(snap.taken_at - time.time()) < 5
        assert all(abs(p.activity - snap.taken_at) < 5 for p in snap.sessions.values())
    finally:
        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(tmux_server.kill_session, name)


async def test_no_server_is_an_empty_snapshot(tmux_server: TmuxServer) -> None:
    snap = await tmux_server.snapshot()
    assert snap.sessions == {} and not snap.unreadable
    assert await tmux_server.list_sessions() == []
    assert await tmux_server.has_session("anything") is False
    assert tmux_server.calls == 3
    assert not await anyio.Path(socket_file(tmux_server.socket)).exists()  # nothing started


async def test_socket_in_a_missing_folder_is_an_empty_snapshot(tmux_tmpdir: str) -> None:
    server = TmuxServer(LocalHost(), f"{tmux_tmpdir}/no-such-dir/sock")
    assert (await server.snapshot()).sessions == {}
    assert await server.kill_session("x") is False


async def test_stale_socket_of_a_dead_server_is_an_empty_snapshot(tmux_tmpdir: str) -> None:
    path = f"{tmux_tmpdir}/stale.sock"
    with socket.socket(socket.AF_UNIX) as sock:  # bound, then closed: nobody listens
        sock.bind(path)
    server = TmuxServer(LocalHost(), path)
    assert (await server.snapshot()).sessions == {}  # tmux: "no server running on ..."


async def test_socket_under_a_regular_file_is_unavailable(tmux_tmpdir: str) -> None:
    # connect() fails with ENOTDIR: "error connecting to <path> (Not a directory)".
    await anyio.Path(tmux_tmpdir, "plain-file").write_text("")
    server = TmuxServer(LocalHost(), f"{tmux_tmpdir}/plain-file/sock")
    with pytest.raises(TmuxUnavailable, match="Not a directory"):
        await server.snapshot()
    with pytest.raises(TmuxUnavailable):
        await server.kill_session("x")
    with pytest.raises(TmuxUnavailable):
        await server.has_session("x")


async def test_socket_folder_with_unsafe_permissions_is_unavailable(tmux_tmpdir: str) -> None:
    # tmux's own ownership/mode check on its socket folder; it refuses even as root.
    base = anyio.Path(tmux_tmpdir, "unsafe")
    folder = base / f"tmux-{os.getuid()}"
    await folder.mkdir(parents=True)
    await folder.chmod(0o777)
    server = TmuxServer(EnvHost({"TMUX_TMPDIR": str(base)}), "x")
    with pytest.raises(TmuxUnavailable, match="unsafe permissions"):
        await server.snapshot()


async def test_socket_owned_by_something_else_is_unavailable(tmux_tmpdir: str) -> None:
    # A listener that is not tmux: accepts, then hangs up: "server exited unexpectedly".
    path = f"{tmux_tmpdir}/impostor.sock"

    async def hang_up(stream: SocketStream) -> None:
        await stream.aclose()

    listener = await anyio.create_unix_listener(path)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hang_up)
        server = TmuxServer(LocalHost(), path)
        with pytest.raises(TmuxUnavailable, match="server exited unexpectedly"):
            await server.snapshot()
        assert server.calls == 4  # asked again 3 times: a real server may just be exiting
        tg.cancel_scope.cancel()


async def test_server_that_never_answers_is_unavailable(tmux_tmpdir: str) -> None:
    path = f"{tmux_tmpdir}/mute.sock"
    with socket.socket(socket.AF_UNIX) as sock:  # listens, never accepts: tmux waits forever
        sock.bind(path)
        sock.listen()
        server = TmuxServer(LocalHost(), path, timeout=0.5)
        with pytest.raises(TmuxUnavailable, match=r"no answer within 0\.5s"):
            await server.snapshot()


async def test_missing_tmux_binary_is_unavailable() -> None:
    server = TmuxServer(EnvHost({"PATH": "/nonexistent"}), "x")
    with pytest.raises(TmuxUnavailable, match="not installed"):
        await server.snapshot()


async def test_default_socket_uses_no_flags(tmux_tmpdir: str, tmp_path: Path) -> None:
    # Safe only because TMUX_TMPDIR points at this test's own folder (autouse fixture).
    assert os.environ["TMUX_TMPDIR"] == tmux_tmpdir and tmux_tmpdir.startswith("/tmp/mwt-")
    server = TmuxServer(LocalHost())
    assert server.argv("list-sessions") == ["tmux", "-u", "list-sessions"]
    await server.new_session("dflt", cwd=str(tmp_path), argv=["sleep", "1000"], env={})
    try:
        assert await anyio.Path(socket_file("default")).exists()
        assert "dflt" in await server.snapshot()
    finally:
        await server.run("kill-server")
    with pytest.raises(TmuxError, match="refusing"):
        await server.kill_server()


async def test_socket_forms(tmux_tmpdir: str, tmp_path: Path) -> None:
    assert TmuxServer(LocalHost(), "name").argv("ls") == [
        "tmux", "-u", "-L", "name", "-f", "/dev/null", "ls",
    ]  # fmt: skip
    path = f"{tmux_tmpdir}/s.sock"
    server = TmuxServer(LocalHost(), path)
    assert server.argv("ls") == ["tmux", "-u", "-S", path, "-f", "/dev/null", "ls"]
    await server.new_session("bypath", cwd=str(tmp_path), argv=sh("exit 4"), env={})
    try:
        assert (await wait_for_pane(server, "bypath", lambda p: p.exit_known)).dead_status == 4
    finally:
        assert await server.kill_server()
    with pytest.raises(ValueError, match="longer than 107"):
        TmuxServer(LocalHost(), "/tmp/" + "x" * 110)


async def test_helper_fails_a_test_that_leaves_sessions(tmux_tmpdir: str, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="left behind by the test: forgotten"):
        async with private_tmux_server() as server:
            await server.new_session("forgotten", cwd=str(tmp_path), argv=["cat"], env={})
            path = socket_file(server.socket)
    assert not await anyio.Path(path).exists()  # killed anyway


def test_parse_snapshot_is_defensive_and_picks_the_agent_pane() -> None:
    def row(name: str, win: int, pane: int, top_left: bool, pid: int, *rest: str) -> str:
        flags = ["1", "1"] if top_left else ["0", "1"]
        fields = [name, str(win), str(pane), *flags, f"%{pid}", str(pid), *rest]
        return "\x1f".join(fields)

    live = ("0", "", "", "100", "105", "claude")
    text = "\n".join(
        [
            row("a", 1, 1, False, 11, *live),
            row("a", 1, 0, True, 10, *live),
            row("a", 2, 0, True, 12, *live),
            row("b", 0, 0, True, 20, "1", "", "9", "100", "100", "sleep\x1fodd\tname"),
            row("c", 0, 0, True, 30, "maybe", "", "", "1", "1", "x"),
            row("e", 0, 0, True, 40, "1", "", "", "1", "1", "sh"),
            "d\x1ftoo\x1ffew",
            "",
        ]
    )
    snap = parse_snapshot(text, 123.0)
    assert isinstance(snap, Snapshot) and snap.taken_at == 123.0
    assert sorted(snap.sessions) == ["a", "b", "e"]
    assert snap.unreadable == frozenset({"c", "d"})
    assert snap.sessions["a"].pane_pid == 10 and snap.sessions["a"].activity == 105.0
    b = snap.sessions["b"]
    assert (b.dead, b.dead_status, b.dead_signal, b.current_command) == (
        True,
        None,
        9,
        "sleep\x1fodd\tname",
    )
    assert b.exit_known
    # Dead before tmux reaped the process: neither status nor signal yet. Not a signal death.
    e = snap.sessions["e"]
    assert e.dead and not e.exit_known and e.dead_signal is None


async def test_private_servers_do_not_see_each_other(
    make_tmux_server: Callable[..., Awaitable[TmuxServer]], tmp_path: Path
) -> None:
    one, two = await make_tmux_server(), await make_tmux_server()
    assert one.socket != two.socket and one.socket.startswith("metawsm-test-")
    async with (
        tmux_session(one, "same", cwd=str(tmp_path), argv=["sleep", "1000"]),
        tmux_session(two, "same", cwd=str(tmp_path), argv=sh("exit 2")),
    ):
        assert (await wait_for_pane(two, "same", lambda p: p.dead)).dead_status == 2
        assert (await one.snapshot()).sessions["same"].alive


async def test_snapshot_reads_rows_without_a_utf8_locale(
    tmux_server: TmuxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under LC_ALL=C the tmux client rewrites the \x1f separator unless told -u.
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.delenv("LANG", raising=False)
    server = tmux_server
    await server.new_session("c-locale", cwd="/", argv=["sleep", "30"], env={})
    try:
        snapshot = await server.snapshot()
        assert "c-locale" in snapshot.sessions
        assert not snapshot.unreadable
    finally:
        await server.kill_session("c-locale")
