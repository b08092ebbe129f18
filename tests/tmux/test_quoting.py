"""Nothing from the caller is parsed by a shell or by tmux: argv, env, folders, names."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from metawsm.hosts.tmux import InvalidSessionName, TmuxServer, validate_session_name
from tests.helpers.tmux import sh, tmux_session, wait_for_pane

pytestmark = pytest.mark.anyio


async def pwned(folder: Path | anyio.Path) -> list[anyio.Path]:
    """Files an injected ``touch PWNED...`` would have made."""
    return [p async for p in anyio.Path(folder).glob("PWNED*")]


WEIRD = [
    "a b",
    "it's",
    'say "hi"',
    "$(touch PWNED)",
    "`touch PWNED`",
    ";",
    "x;",
    "x\\;",
    "\\",
    "a; touch PWNED",
    "#{session_name}",
    "#(touch PWNED)",
    "",
    "-x",
    "--",
    "{",
    "}",
    "~",
    "*",
    "%1",
    "line\nbreak",
    "tab\there",
    "ünïcødé",
    "$HOME",
    "'",
]


async def test_argv_reaches_the_program_verbatim(tmux_server: TmuxServer, tmp_path: Path) -> None:
    out = anyio.Path(tmp_path, "args")
    argv = sh('out=$1; shift; printf "%s\\0" "$@" > "$out"', str(out), *WEIRD)
    async with tmux_session(tmux_server, "weird", cwd=str(tmp_path), argv=argv):
        assert (await wait_for_pane(tmux_server, "weird", lambda p: p.exit_known)).dead_status == 0
    assert (await out.read_bytes()).decode().split("\0")[:-1] == WEIRD
    assert not await pwned(tmp_path)


async def test_argv_without_a_shell_in_it(tmux_server: TmuxServer, tmp_path: Path) -> None:
    # A program given directly, one argv item or several, runs with no shell parsing.
    async with tmux_session(tmux_server, "touch1", cwd=str(tmp_path), argv=["touch", "a b;"]):
        await wait_for_pane(tmux_server, "touch1", lambda p: p.exit_known)
    async with tmux_session(tmux_server, "touch2", cwd=str(tmp_path), argv=["pwd"]):
        assert (await wait_for_pane(tmux_server, "touch2", lambda p: p.exit_known)).dead_status == 0
    assert [p.name async for p in anyio.Path(tmp_path).iterdir()] == ["a b;"]


async def test_env_values_reach_the_program_verbatim(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    out = anyio.Path(tmp_path, "env")
    env = {f"W{i}": value for i, value in enumerate(WEIRD)}
    script = 'printf "%s\\0" ' + " ".join(f'"$W{i}"' for i in range(len(WEIRD))) + ' > "$1"'
    async with tmux_session(
        tmux_server, "env", cwd=str(tmp_path), argv=sh(script, str(out)), env=env
    ):
        assert (await wait_for_pane(tmux_server, "env", lambda p: p.exit_known)).dead_status == 0
    assert (await out.read_bytes()).decode().split("\0")[:-1] == WEIRD
    assert not await pwned(tmp_path)


async def test_cwd_is_not_format_expanded(tmux_server: TmuxServer, tmp_path: Path) -> None:
    # tmux expands formats in -c, and #(...) there would run a shell command.
    for i, dirname in enumerate(["a#b", "c#{session_name}", "d#(touch PWNED)", "e##f", "g;"]):
        work = anyio.Path(tmp_path, dirname)
        await work.mkdir()
        out = anyio.Path(tmp_path, f"pwd{i}")
        name = f"cwd-{i}"
        async with tmux_session(tmux_server, name, cwd=str(work), argv=sh('pwd > "$1"', str(out))):
            await wait_for_pane(tmux_server, name, lambda p: p.exit_known)
        assert (await out.read_text()).strip() == str(work)
    assert not await pwned(tmp_path) and not await pwned(await anyio.Path.cwd())


@pytest.mark.parametrize(
    "name",
    ["", ".", "a.b", "a:b", "-a", "_a", "a b", "a;b", "a#b", "$1", "=a", "a/b", "é", "x" * 101],
)
async def test_invalid_session_names_never_reach_tmux(
    tmux_server: TmuxServer, tmp_path: Path, name: str
) -> None:
    cwd = str(tmp_path)
    calls = [
        tmux_server.new_session(name, cwd=cwd, argv=["true"], env={}),
        tmux_server.respawn(name, cwd=cwd, argv=["true"], env={}),
        tmux_server.kill_session(name),
        tmux_server.has_session(name),
        tmux_server.capture(name),
        tmux_server.set_option(name, "@x", "1"),
    ]
    for call in calls:
        with pytest.raises(InvalidSessionName, match="invalid tmux session name"):
            await call
    assert tmux_server.calls == 0


def test_valid_session_names() -> None:
    for name in ["agent-metawsm-003-0260207-084728", "A_b-9", "0", "x" * 100]:
        assert validate_session_name(name) == name


async def test_bad_argv_and_env_are_refused_before_tmux(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    cwd = str(tmp_path)
    for argv, env in [
        ([], {}),
        (["-x"], {}),
        (["echo", "a\0b"], {}),
        (["true"], {"BAD-KEY": "1"}),
        (["true"], {"1X": "1"}),
        (["true"], {"K": "a\0b"}),
    ]:
        with pytest.raises(ValueError):
            await tmux_server.new_session("s", cwd=cwd, argv=argv, env=env)
    assert tmux_server.calls == 0


async def test_pipe_to_a_weird_path_gets_all_output_and_runs_nothing(
    tmux_server: TmuxServer, tmp_path: Path
) -> None:
    """The agent-log file of ``pipe-pane`` is one quoted word: no shell, no tmux format, and
    each generation's file gets what that generation printed, from its first byte."""
    folder = tmp_path / "d $(touch PWNED) #(touch PWNED) #{pane_id} it's ;"
    folder.mkdir()
    first, second = folder / "gen-1.log", folder / "gen-2.log"
    argv = ["sh", "-c", "echo one-start; sleep 0.3; echo one-end; sleep 30"]
    await tmux_server.new_session("piped", cwd=str(tmp_path), argv=argv, env={}, pipe_to=str(first))
    try:
        await anyio.sleep(1.0)
        await tmux_server.respawn(
            "piped", cwd=str(tmp_path), argv=["echo", "two-only"], env={}, pipe_to=str(second)
        )
        for _ in range(200):  # up to 10 s
            if second.exists() and b"two-only" in second.read_bytes():
                break
            await anyio.sleep(0.05)
    finally:
        await tmux_server.kill_session("piped")
    assert first.read_bytes().replace(b"\r", b"") == b"one-start\none-end\n"
    assert b"one-" not in second.read_bytes()
    assert await pwned(tmp_path) == [] and await pwned(folder) == []
    with pytest.raises(ValueError, match="absolute"):
        await tmux_server.new_session("x", cwd=str(tmp_path), argv=["true"], env={}, pipe_to="rel")
