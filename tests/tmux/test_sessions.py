"""Sessions on a real private tmux server: start, exit statuses, respawn, kill, capture."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from metawsm.hosts.tmux import NoSuchSession, SessionExists, TmuxError, TmuxServer
from tests.helpers.tmux import capture_until, sh, tmux_session, wait_for_pane

pytestmark = pytest.mark.anyio


async def test_new_session_runs_argv_in_cwd_with_env(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    work = anyio.Path(tmp_path, "work dir")
    await work.mkdir()
    out = anyio.Path(tmp_path, "out.txt")
    argv = sh('printf "%s\\n" "$METAWSM_X" "$(pwd)" > "$1"', str(out))
    await tmux_server.new_session(
        "env-cwd", cwd=str(work), argv=argv, env={"METAWSM_X": "hello world"}
    )
    pane = await wait_for_pane(tmux_server, "env-cwd", lambda p: p.exit_known)
    assert pane.dead_status == 0
    assert (await out.read_text()).splitlines() == ["hello world", str(work)]
    assert await tmux_server.kill_session("env-cwd")


async def test_fast_exit_leaves_dead_pane_with_its_status_every_time(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    for i in range(20):
        name = f"fast-{i}"
        await tmux_server.new_session(name, cwd=str(tmp_path), argv=sh("exit 3"), env={})
        assert name in await tmux_server.snapshot()  # the session outlived its command
        # The first snapshot that shows it dead already has the status: snapshot() makes the
        # server reap a child whose SIGCHLD tmux 3.3a lost (about 1 fast exit in 10 here).
        pane = await wait_for_pane(tmux_server, name, lambda p: p.dead)
        assert (pane.exit_known, pane.dead_status, pane.dead_signal) == (True, 3, None)
        assert await tmux_server.kill_session(name)


async def test_exit_zero_is_status_zero(tmux_server: TmuxServer, tmp_path: Path) -> None:
    async with tmux_session(tmux_server, "ok", cwd=str(tmp_path), argv=["true"]):
        pane = await wait_for_pane(tmux_server, "ok", lambda p: p.exit_known)
        assert (pane.dead_status, pane.dead_signal) == (0, None)


async def test_missing_program_exits_127_with_a_message(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    argv = ["metawsm-no-such-program", "--flag"]
    async with tmux_session(tmux_server, "nope", cwd=str(tmp_path), argv=argv):
        pane = await wait_for_pane(tmux_server, "nope", lambda p: p.exit_known)
        assert pane.dead_status == 127
        needle = "metawsm-no-such-program: not found"
        assert needle in await capture_until(tmux_server, "nope", needle)


async def test_killed_by_signal_is_dead_without_status(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    async with tmux_session(tmux_server, "victim", cwd=str(tmp_path), argv=["sleep", "1000"]):
        pane = await wait_for_pane(tmux_server, "victim", lambda p: p.current_command == "sleep")
        assert pane.alive
        os.kill(pane.pane_pid, signal.SIGKILL)  # pane_pid is the agent itself, not a shell
        pane = await wait_for_pane(tmux_server, "victim", lambda p: p.exit_known)
        assert (pane.dead_status, pane.dead_signal) == (None, signal.SIGKILL)


async def test_respawn_gives_a_live_pane_with_a_new_pid_and_env(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    out = anyio.Path(tmp_path, "gen.txt")
    argv = sh('printf "%s\\n" "$GEN" >> "$1"; exec sleep 1000', str(out))
    async with tmux_session(tmux_server, "agent", cwd=str(tmp_path), argv=argv, env={"GEN": "1"}):
        first = await wait_for_pane(tmux_server, "agent", lambda p: p.current_command == "sleep")
        await tmux_server.respawn("agent", cwd=str(tmp_path), argv=argv, env={"GEN": "2"})
        second = await wait_for_pane(
            tmux_server,
            "agent",
            lambda p: p.pane_pid != first.pane_pid and p.current_command == "sleep",
        )
        assert second.alive and second.pane_id == first.pane_id
        assert (await out.read_text()).splitlines() == ["1", "2"]

        # A dead pane comes back too, and still reports its next death.
        await tmux_server.respawn("agent", cwd=str(tmp_path), argv=sh("exit 7"), env={})
        dead = await wait_for_pane(tmux_server, "agent", lambda p: p.exit_known)
        assert dead.dead_status == 7
        await tmux_server.respawn("agent", cwd=str(tmp_path), argv=["sleep", "1000"], env={})
        await wait_for_pane(tmux_server, "agent", lambda p: p.alive)


async def test_respawn_of_a_missing_session_is_no_such_session(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    with pytest.raises(NoSuchSession, match="ghost does not exist"):
        await tmux_server.respawn("ghost", cwd=str(tmp_path), argv=["true"], env={})
    async with tmux_session(tmux_server, "other", cwd=str(tmp_path), argv=["sleep", "1000"]):
        with pytest.raises(NoSuchSession):
            await tmux_server.respawn("ghost", cwd=str(tmp_path), argv=["true"], env={})


async def test_duplicate_name_fails_and_leaves_the_first_session_alone(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    async with tmux_session(tmux_server, "dup", cwd=str(tmp_path), argv=["sleep", "1000"]):
        before = await wait_for_pane(tmux_server, "dup", lambda p: p.current_command == "sleep")
        with pytest.raises(SessionExists, match="tmux session dup already exists"):
            await tmux_server.new_session("dup", cwd=str(tmp_path), argv=["true"], env={})
        await anyio.sleep(0.1)
        after = (await tmux_server.snapshot()).sessions["dup"]
        assert (after.pane_pid, after.alive) == (before.pane_pid, True)


async def test_kill_session_of_a_missing_session_is_false(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    assert await tmux_server.kill_session("ghost") is False  # no server at all
    async with tmux_session(tmux_server, "here", cwd=str(tmp_path), argv=["sleep", "1000"]):
        assert await tmux_server.kill_session("ghost") is False  # server up, no such session
        assert await tmux_server.has_session("here")


async def test_session_targets_are_exact_not_prefixes(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    async with (
        tmux_session(tmux_server, "ab", cwd=str(tmp_path), argv=["sleep", "1000"]),
        tmux_session(tmux_server, "abc", cwd=str(tmp_path), argv=["sleep", "1000"]),
    ):
        assert not await tmux_server.has_session("a")
        assert await tmux_server.kill_session("a") is False
        assert await tmux_server.list_sessions() == ["ab", "abc"]
        assert await tmux_server.kill_session("ab")
        assert await tmux_server.list_sessions() == ["abc"]


async def test_missing_or_relative_cwd_is_refused_before_tmux(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    with pytest.raises(TmuxError, match="does not exist"):
        await tmux_server.new_session("x", cwd=str(tmp_path / "nope"), argv=["true"], env={})
    with pytest.raises(ValueError, match="absolute"):
        await tmux_server.new_session("x", cwd="relative", argv=["true"], env={})
    assert tmux_server.calls == 0  # tmux itself would silently start in another folder


async def test_capture_reads_the_agent_pane_including_scrolled_lines(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    argv = sh('printf "hello\\nworld\\n"')
    async with tmux_session(tmux_server, "talk", cwd=str(tmp_path), argv=argv):
        await wait_for_pane(tmux_server, "talk", lambda p: p.exit_known)
        text = await capture_until(tmux_server, "talk", "Pane is dead")
        # The "Pane is dead" line scrolls the screen by one: "hello" is in history by now.
        assert text.splitlines()[:2] == ["hello", "world"]
        assert "Pane is dead (status 0" in text
        assert (await tmux_server.capture("talk", lines=1)).startswith("Pane is dead")
    with pytest.raises(NoSuchSession):
        await tmux_server.capture("talk")


async def test_set_option_reaches_the_session(tmux_server: TmuxServer, tmp_path: Path) -> None:
    async with tmux_session(tmux_server, "opt", cwd=str(tmp_path), argv=["sleep", "1000"]):
        await tmux_server.set_option("opt", "@metawsm-gen", "2;")
        shown = await tmux_server.run("show-options", "-v", "-t", "=opt:", "@metawsm-gen")
        assert shown.stdout.strip() == "2;"
    with pytest.raises(NoSuchSession):
        await tmux_server.set_option("opt", "@metawsm-gen", "3")
    with pytest.raises(ValueError):
        await tmux_server.set_option("opt", "bad option", "1")


async def test_agent_pane_is_the_first_pane_even_after_a_split(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    async with tmux_session(tmux_server, "split", cwd=str(tmp_path), argv=["sleep", "1000"]):
        agent = await wait_for_pane(tmux_server, "split", lambda p: p.current_command == "sleep")
        for extra in (["split-window", "-h"], ["new-window"]):
            result = await tmux_server.run(*extra, "-d", "-t", "=split:", "--", "cat")
            assert result.ok, result.stderr
        snap = await tmux_server.snapshot()
        assert snap.sessions["split"].pane_id == agent.pane_id
        await tmux_server.respawn("split", cwd=str(tmp_path), argv=sh("exit 5"), env={})
        dead = await wait_for_pane(tmux_server, "split", lambda p: p.exit_known)
        assert (dead.pane_id, dead.dead_status) == (agent.pane_id, 5)


async def test_pane_whose_process_left_the_terminal_is_dead_with_exit_unknown(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    # The process closes the pty and ignores the hangup: tmux calls the pane dead, but nothing
    # has exited yet. Not a signal death; the snapshot tried once more to be sure (2 calls).
    script = 'trap "" HUP; exec </dev/null >/dev/null 2>&1; sleep 0.7; exit 4'
    async with tmux_session(tmux_server, "gone", cwd=str(tmp_path), argv=sh(script)):
        await wait_for_pane(tmux_server, "gone", lambda p: p.dead)
        before = tmux_server.calls
        pane = (await tmux_server.snapshot()).sessions["gone"]
        assert tmux_server.calls == before + 2
        assert pane.dead and not pane.exit_known and pane.dead_signal is None
        pane = await wait_for_pane(tmux_server, "gone", lambda p: p.exit_known)
        assert pane.dead_status == 4


async def test_calls_right_after_the_last_session_ends_see_no_server(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    # Killing the last session makes the server exit; a client that connects meanwhile gets
    # "server exited unexpectedly". That must read as "no sessions", never as unavailable.
    for i in range(25):
        name = f"last-{i}"
        await tmux_server.new_session(name, cwd=str(tmp_path), argv=["sleep", "1000"], env={})
        assert await tmux_server.kill_session(name)
        assert (await tmux_server.snapshot()).sessions == {}
        assert await tmux_server.has_session(name) is False
