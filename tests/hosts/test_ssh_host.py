"""SSHHost against a real OpenSSH sshd on loopback: commands, files, keys, cancellation, loss."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import asyncssh
import pytest

from metawsm.hosts import CommandFailed, CommandTimeout
from metawsm.hosts.errors import HostKeyRejected, HostUnreachable
from metawsm.hosts.ssh import SSHHost, SSHTarget, remote_script
from tests.helpers.sshd import Sshd

pytestmark = pytest.mark.anyio


def make_host(server: Sshd, **options: float) -> SSHHost:
    target = SSHTarget(
        server.address,
        server.port,
        server.user,
        str(server.client_key),
        str(server.known_hosts),
    )
    return SSHHost("box", target, **options)


async def wait_until_gone(server: Sshd, needle: str, timeout: float = 5.0) -> list[int]:
    left = server.processes_matching(needle)
    with anyio.move_on_after(timeout):
        for _ in range(int(timeout / 0.05)):
            if not (left := server.processes_matching(needle)):
                break
            await anyio.sleep(0.05)
    return left


# -- commands ------------------------------------------------------------------------------------


async def test_argv_reaches_the_remote_program_unchanged(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(sshd)
    tricky = ["a b", "it's", '"dq"', "$(touch pwned)", "x; rm -rf /", "`id`", "*", "", "\\n", "ü"]
    result = await host.run(
        ["python3", "-c", "import sys; print(repr(sys.argv[1:]))", *tricky], cwd=str(tmp_path)
    )
    assert result.ok, result.stderr
    assert result.stdout.strip() == repr(tricky)
    assert not (tmp_path / "pwned").exists()
    assert result.stderr == ""  # the pid line is taken out
    await host.aclose()


async def test_env_cwd_stdin_and_exit_code(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(sshd)
    result = await host.run(
        ["/bin/sh", "-c", 'pwd; printf "%s" "$GREETING"; cat; echo oops >&2; exit 3'],
        cwd=str(tmp_path),
        env={"GREETING": "hello 'world' $HOME"},
        stdin=b"from stdin",
    )
    assert result.returncode == 3
    assert result.stdout == f"{tmp_path}\nhello 'world' $HOMEfrom stdin"
    assert result.stderr == "oops\n"
    with pytest.raises(CommandFailed) as failed:
        await host.run(["/bin/sh", "-c", "echo broken >&2; exit 4"], check=True)
    assert failed.value.returncode == 4 and "broken" in str(failed.value)
    await host.aclose()


async def test_missing_program_and_missing_folder_read_as_locally(
    sshd: Sshd, tmp_path: Path
) -> None:
    host = make_host(sshd)
    missing = await host.run(["no-such-program-xyz", "arg"])
    assert missing.returncode == 127
    assert "command not found: no-such-program-xyz" in missing.stderr
    with pytest.raises(CommandFailed) as no_folder:
        await host.run(["true"], cwd=str(tmp_path / "absent"))
    assert no_folder.value.returncode == 127 and "no such folder" in str(no_folder.value)
    with pytest.raises(ValueError, match="environment variable name"):
        await host.run(["true"], env={"BAD;NAME": "x"})
    await host.aclose()


def test_remote_script_quotes_every_argument() -> None:
    script = remote_script(["echo", "a'b", "$X"], cwd="/tmp/x y", env={"K": "v w"})
    assert "exec echo 'a'\"'\"'b' '$X'" in script
    assert "cd '/tmp/x y'" in script and "export K='v w'" in script
    with pytest.raises(ValueError):
        remote_script(["-rf"])


async def test_one_connection_carries_everything(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(sshd)
    async with anyio.create_task_group() as group:
        for index in range(20):
            group.start_soon(host.run, ["echo", str(index)])
            group.start_soon(host.stat, str(tmp_path))
    await host.write_bytes_atomic(str(tmp_path / "f"), b"x")
    assert host.connects == 1 and host.commands == 20
    assert sshd.accepted_logins() == 1
    await host.aclose()


# -- cancellation --------------------------------------------------------------------------------


async def test_a_cancelled_command_leaves_no_remote_process(sshd: Sshd) -> None:
    host = make_host(sshd)
    with anyio.move_on_after(1.0) as scope:
        await host.run(["/bin/sh", "-c", "sleep 4711 & sleep 4712; wait"])
    assert scope.cancelled_caught
    assert await wait_until_gone(sshd, "sleep 471") == []
    # the connection is still good afterwards
    assert (await host.run(["echo", "ok"])).stdout == "ok\n"
    await host.aclose()


async def test_a_timed_out_command_is_killed_remotely(sshd: Sshd) -> None:
    host = make_host(sshd)
    with pytest.raises(CommandTimeout):
        await host.run(["sleep", "4721"], timeout=0.5)
    assert await wait_until_gone(sshd, "sleep 4721") == []
    await host.aclose()


# -- host keys -----------------------------------------------------------------------------------


async def test_a_wrong_host_key_is_refused_before_anything_is_sent(
    sshd: Sshd, tmp_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[{sshd.address}]:{sshd.port} {other}\n")
    target = SSHTarget(sshd.address, sshd.port, sshd.user, str(sshd.client_key), str(wrong))
    host = SSHHost("box", target)
    marker = tmp_path / "ran"
    with pytest.raises(HostKeyRejected) as rejected:
        await host.run(["touch", str(marker)])
    assert str(wrong) in str(rejected.value) and rejected.value.hint
    assert host.state == "unreachable" and "host key" in (host.error or "")
    assert not marker.exists()
    log = sshd.log_path.read_text()
    # the client hung up during key exchange: no user name, no key, no command reached sshd
    assert "Accepted publickey" not in log and "Failed publickey" not in log
    assert "authenticating user" not in log and sshd.accepted_logins() == 0


async def test_no_known_hosts_file_means_no_connection(sshd: Sshd, tmp_path: Path) -> None:
    target = SSHTarget(
        sshd.address, sshd.port, sshd.user, str(sshd.client_key), str(tmp_path / "nope")
    )
    host = SSHHost("box", target)
    with pytest.raises(HostKeyRejected, match="no known_hosts file"):
        await host.run(["true"])
    assert sshd.accepted_logins() == 0


# -- loss and reconnection -----------------------------------------------------------------------


async def test_loss_marks_unreachable_and_reconnects_after_backoff(sshd: Sshd) -> None:
    host = make_host(sshd, backoff_initial=0.2, backoff_max=0.4, keepalive_seconds=1.0)
    assert (await host.run(["echo", "1"])).ok
    assert host.state == "connected"
    sshd.stop()
    with pytest.raises(HostUnreachable):
        await host.run(["echo", "2"])
    assert host.state == "unreachable" and host.error
    attempts = host.attempts
    with pytest.raises(HostUnreachable):  # within the backoff: at once, no new attempt
        await host.run(["echo", "3"])
    assert host.attempts == attempts
    sshd.start()
    with anyio.fail_after(10):
        while True:
            try:
                result = await host.run(["echo", "back"])
                break
            except HostUnreachable:
                await anyio.sleep(0.1)
    assert result.stdout == "back\n" and host.state == "connected" and host.error is None
    assert host.connects == 2
    await host.aclose()


# -- files ---------------------------------------------------------------------------------------


async def test_files_over_sftp(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(sshd)
    path = tmp_path / "deep" / "er" / "f.json"
    await host.write_bytes_atomic(str(path), b'{"a": 1}', mode=0o600)
    assert path.read_bytes() == b'{"a": 1}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]  # no temp file left
    await host.write_bytes_atomic(str(path), b"second")
    assert await host.read_bytes(str(path)) == b"second"
    assert await host.read_bytes(str(path), limit=3) == b"sec"
    with pytest.raises(FileNotFoundError):
        await host.read_bytes(str(tmp_path / "absent"))
    st = await host.stat(str(path))
    assert st is not None and st.size == 6 and not st.is_dir
    assert abs(st.mtime - path.stat().st_mtime) < 1.0
    folder = await host.stat(str(path.parent))
    assert folder is not None and folder.is_dir
    assert await host.stat(str(tmp_path / "absent")) is None
    many = await host.stat_many([str(path), str(tmp_path / "absent"), str(path.parent)])
    assert isinstance(many[0], type(st)) and many[0].size == 6
    assert many[1] is None
    assert many[2] is not None and not isinstance(many[2], OSError) and many[2].is_dir
    await host.makedirs(str(tmp_path / "m" / "n"))
    assert (tmp_path / "m" / "n").is_dir()
    await host.makedirs(str(tmp_path / "m" / "n"))  # exists: fine
    assert await host.listdir(str(path.parent)) == ["f.json"]
    with pytest.raises(FileNotFoundError):
        await host.listdir(str(tmp_path / "absent"))
    assert await host.remove(str(path)) is True
    assert await host.remove(str(path)) is False
    await host.aclose()


async def test_regular_file_read_refuses_fifos_and_links(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(sshd)
    regular = tmp_path / "r.json"
    regular.write_bytes(b"data")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    link = tmp_path / "link.json"
    link.symlink_to(regular)
    assert await host.read_regular_bytes(str(regular)) == b"data"
    with anyio.fail_after(5):  # a FIFO is never opened, so this cannot block
        assert await host.read_regular_bytes(str(fifo)) is None
    assert await host.read_regular_bytes(str(link)) is None
    assert await host.read_regular_bytes(str(tmp_path / "absent")) is None
    await host.aclose()


async def test_read_regular_and_lstat_many_over_sftp(sshd: Sshd, tmp_path: Path) -> None:
    """The Host seam the signal watcher uses: the same answers as LocalHost's."""
    from metawsm.hosts import NotRegularFile

    host = make_host(sshd)
    regular = tmp_path / "r.json"
    regular.write_bytes(b"0123456789")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    link = tmp_path / "link.json"
    link.symlink_to(regular)
    with anyio.fail_after(10):
        assert await host.read_regular(str(regular), limit=4) == b"0123"
        for path, what in ((fifo, "a named pipe"), (link, "a symbolic link")):
            with pytest.raises(NotRegularFile) as info:
                await host.read_regular(str(path), limit=4)
            assert info.value.what == what
        with pytest.raises(FileNotFoundError):
            await host.read_regular(str(tmp_path / "absent"), limit=4)
        found = await host.lstat_many([str(link), str(fifo), str(tmp_path / "absent")])
    kinds = [
        None if s is None or isinstance(s, OSError) else (s.is_link, s.is_regular) for s in found
    ]
    assert kinds == [(True, False), (False, False), None]
    await host.aclose()


async def test_tmux_over_an_unreachable_host_is_unavailable_not_empty(sshd: Sshd) -> None:
    from metawsm.hosts.tmux import TmuxServer, TmuxUnavailable

    host = make_host(sshd, backoff_initial=5.0)
    tmux = TmuxServer(host, "metawsm-test-ssh-unreach")
    assert len(await tmux.snapshot()) == 0  # no server there: an empty snapshot
    sshd.stop()
    with pytest.raises(TmuxUnavailable, match=r"unreachable|connection"):
        await tmux.snapshot()
    await host.aclose()
