"""A machine reached over SSH as a :class:`~metawsm.hosts.base.Host` (asyncssh, asyncio only).

One long-lived connection per host carries every command (one exec channel each, multiplexed)
and one SFTP session for files. Facts this module relies on (``deps-spike.md`` §2-§3, and
``tests/hosts/test_ssh_host.py``):

* **Host keys are always verified**: against the policy's ``known_hosts`` file, else the user's
  ``~/.ssh/known_hosts``; a missing file, an unknown key or a mismatch fails the handshake
  before authentication, so nothing (no key, no command) is sent. There is no "accept new".
* **Commands are argv**: the remote side gets one POSIX ``sh`` script in which every argument
  is ``shlex.quote``-d on its own; nothing from input is ever spliced into a string unquoted.
  The script exports ``env``, changes into ``cwd``, and ``exec``-s the program, so the remote
  process is the session leader sshd made for the channel (its pid is its process group).
* **A cancelled or timed-out command is ended remotely**: asyncssh stops waiting but the remote
  process would keep running (sshd delivers no signal to a channel without a pty: "session
  signalling requires privilege separation"). The script's first stderr line is its pid, so a
  cancelled command is followed by ``kill -KILL -- -PID`` on a fresh channel (shielded,
  bounded), which takes the process and everything in its group.
* **The connection is watched**: asyncssh keepalives every ``keepalive_seconds``; a lost
  connection, a failed connect or a command that gets no answer mark the host
  ``unreachable`` (with when and why) and raise :class:`~metawsm.hosts.errors.HostUnreachable`.
  The next use reconnects, no sooner than a jittered, exponentially growing backoff; until then
  calls fail at once instead of each waiting for a connect timeout.
* **Files over SFTP**: an atomic replace is a temp file in the same folder, ``fsync``, then the
  ``posix-rename@openssh.com`` rename. :meth:`SSHHost.stat_many` is one remote ``stat``
  command instead (SFTP's whole-second mtimes would hide a rewrite within a second), falling
  back to pipelined SFTP stats.

asyncssh is imported lazily (it costs ~250 ms of CLI start-up).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import shlex
import stat as stat_mod
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

from metawsm.hosts.base import CommandResult, FileStat, describe_mode
from metawsm.hosts.errors import (
    CommandFailed,
    CommandTimeout,
    HostKeyRejected,
    HostUnreachable,
    NotRegularFile,
)
from metawsm.hosts.statlines import parse_stat_lines, paths_input, stat_script

if TYPE_CHECKING:
    import asyncssh

__all__ = ["HostState", "SSHHost", "SSHTarget", "remote_script"]

HostState = Literal["connecting", "connected", "unreachable"]

_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PID_MARK = "metawsm-pid "
_NO_FOLDER_MARK = "metawsm: no such folder"
_NO_FOLDER_CODE = 200
_SCRUBBED_ENV = ("TMUX", "TMUX_PANE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
_KILL_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class SSHTarget:
    """Where and how to connect (the ``hosts.<name>`` keys of the policy)."""

    address: str
    port: int = 22
    user: str = ""
    key_file: str = ""
    known_hosts: str = ""

    @property
    def label(self) -> str:
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.address}:{self.port}"

    def known_hosts_path(self) -> str:
        return self.known_hosts or os.path.expanduser("~/.ssh/known_hosts")


def remote_script(
    argv: Sequence[str], *, cwd: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The POSIX sh script that runs ``argv`` remotely: pid line, env, cwd, ``exec``.

    Every value is quoted on its own with :func:`shlex.quote`; env keys must be names.
    """
    args = [str(a) for a in argv]
    if not args:
        raise ValueError("empty argv")
    if args[0].startswith("-"):
        raise ValueError(f"program name may not start with '-': {args[0]!r}")
    parts = [f"printf '{_PID_MARK}%s\\n' \"$$\" >&2", "unset " + " ".join(_SCRUBBED_ENV)]
    for key, value in (env or {}).items():
        if not _ENV_KEY_RE.match(key):
            raise ValueError(f"invalid environment variable name {key!r}")
        parts.append(f"export {key}={shlex.quote(str(value))}")
    if cwd is not None:
        parts.append(
            f"cd {shlex.quote(cwd)} 2>/dev/null || "
            f"{{ echo '{_NO_FOLDER_MARK}' >&2; exit {_NO_FOLDER_CODE}; }}"
        )
    parts.append("exec " + " ".join(shlex.quote(a) for a in args))
    return "; ".join(parts)


def _split_pid(stderr: str) -> tuple[int | None, str]:
    """The pid line of :func:`remote_script` and the rest of stderr."""
    lines = stderr.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith(_PID_MARK):
            try:
                pid = int(line[len(_PID_MARK) :].strip())
            except ValueError:
                pid = None
            return pid, "".join(lines[:index] + lines[index + 1 :])
    return None, stderr


class SSHHost:
    """Run commands and touch files on a machine reached over SSH.

    ``keepalive_seconds``: how often an idle connection is probed (3 missed answers close it).
    ``backoff_initial``/``backoff_max``: reconnect delays (doubling, jittered ±50 %).
    ``commands`` counts remote commands run, ``attempts`` connection attempts and ``connects``
    connections made (for tests and benchmarks).
    """

    def __init__(
        self,
        name: str,
        target: SSHTarget,
        *,
        keepalive_seconds: float = 5.0,
        connect_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._name = name
        self.target = target
        self.keepalive_seconds = keepalive_seconds
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._clock = clock
        self._jitter = jitter
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._lock = anyio.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self.state: HostState = "connecting"
        self.since = time.time()
        self.error: str | None = None
        self.round_trip_ms: float | None = None
        self.commands = 0
        self.connects = 0
        self.attempts = 0

    def __repr__(self) -> str:
        return f"SSHHost({self._name!r}, {self.target.label})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def address(self) -> str:
        return self.target.label

    # -- connection ---------------------------------------------------------------------------

    def _set_state(self, state: HostState, error: str | None = None) -> None:
        if state != self.state:
            self.state = state
            self.since = time.time()
        self.error = error

    def _lost(self, conn: object, reason: str) -> None:
        """The connection ``conn`` is gone (or useless): forget it, mark the host unreachable."""
        if conn is not None and conn is not self._conn:
            return  # an older connection: already replaced
        old, self._conn, self._sftp = self._conn, None, None
        self._failures += 1
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (self._failures - 1))
        self._retry_at = self._clock() + delay * (0.5 + self._jitter())
        self._set_state("unreachable", reason)
        if old is not None:
            old.abort()

    async def connect(self, *, now: bool = False) -> asyncssh.SSHClientConnection:
        """The live connection, connecting if there is none.

        Within the backoff after a failure this raises the last error at once, unless ``now``
        (an operator's ``hosts check`` or an explicit retry).
        """
        conn = self._conn
        if conn is not None:
            return conn
        async with self._lock:
            if self._conn is not None:
                return self._conn
            if not now and self.state == "unreachable" and self._clock() < self._retry_at:
                raise HostUnreachable(self._name, self.error or "not connected")
            return await self._open()

    async def _open(self) -> asyncssh.SSHClientConnection:
        import asyncssh

        known_hosts = self.target.known_hosts_path()
        if not await anyio.Path(known_hosts).is_file():
            missing = HostKeyRejected(self._name, "no known_hosts file", known_hosts)
            self._lost(None, missing.reason)
            raise missing
        if self.state != "unreachable":
            self._set_state("connecting")
        host = self
        holder: list[asyncssh.SSHClientConnection] = []

        class _Client(asyncssh.SSHClient):
            def connection_lost(self, exc: Exception | None) -> None:
                if holder:
                    host._lost(holder[0], f"connection lost: {exc}" if exc else "connection closed")

        options: dict[str, Any] = {
            "port": self.target.port,
            "known_hosts": known_hosts,
            "keepalive_interval": self.keepalive_seconds,
            "keepalive_count_max": 3,
            "connect_timeout": self.connect_timeout,
            "config": None,
            "client_factory": _Client,
        }
        if self.target.user:
            options["username"] = self.target.user
        if self.target.key_file:
            options["client_keys"] = [self.target.key_file]
            options["agent_path"] = None
        started = time.perf_counter()
        self.attempts += 1
        try:
            conn = await asyncssh.connect(self.target.address, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            error: HostUnreachable = HostKeyRejected(self._name, exc.reason, known_hosts)
        except asyncssh.PermissionDenied as exc:
            error = HostUnreachable(
                self._name,
                f"authentication refused for {self.target.label}: {exc.reason}",
                hint="check hosts.<name>.user and key_file, and the host's authorized_keys",
            )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            error = HostUnreachable(self._name, f"connect to {self.target.label}: {_why(exc)}")
        else:
            holder.append(conn)
            self._conn = conn
            self._failures = 0
            self.connects += 1
            self.round_trip_ms = (time.perf_counter() - started) * 1000
            self._set_state("connected")
            return conn
        self._lost(None, error.reason)
        raise error

    def suspect(self, reason: str) -> None:
        """Drop the connection as dead (an observation got no answer in time): the host reads
        ``unreachable`` at once instead of after the keepalive's three missed probes."""
        if self._conn is not None:
            self._lost(self._conn, reason)

    async def aclose(self) -> None:
        """Close the connection (the host reads ``connecting`` until it is used again)."""
        conn, self._conn, self._sftp = self._conn, None, None
        if conn is not None:
            conn.close()
            with anyio.move_on_after(2.0, shield=True):
                await conn.wait_closed()
        self._set_state("connecting")

    def _unreachable(self, conn: object, exc: BaseException) -> HostUnreachable:
        reason = f"connection lost: {_why(exc)}"
        self._lost(conn, reason)
        return HostUnreachable(self._name, reason)

    # -- commands -----------------------------------------------------------------------------

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
        import asyncssh

        args = [str(a) for a in argv]
        script = remote_script(args, cwd=cwd, env=env)
        conn = await self.connect()
        self.commands += 1
        started = time.perf_counter()
        pid: list[int] = []
        try:
            with anyio.fail_after(timeout):
                stdout, stderr, code = await self._exec(conn, script, stdin, pid)
        except TimeoutError:
            await self._kill(conn, pid)
            raise CommandTimeout(self._name, args, timeout) from None
        except anyio.get_cancelled_exc_class():
            await self._kill(conn, pid)
            raise
        except (OSError, asyncssh.Error) as exc:
            raise self._unreachable(conn, exc) from None
        self.round_trip_ms = (time.perf_counter() - started) * 1000
        if code == _NO_FOLDER_CODE and stderr.strip().endswith(_NO_FOLDER_MARK):
            raise CommandFailed(self._name, args, 127, f"no such folder: {cwd}")
        if code == 127 and "not found" in stderr and not stdout:
            stderr = f"command not found: {args[0]}"
            if check:
                raise CommandFailed(self._name, args, 127, stderr)
        result = CommandResult(tuple(args), code, stdout, stderr)
        if check and code != 0:
            raise CommandFailed(self._name, args, code, stderr)
        return result

    async def _exec(
        self,
        conn: asyncssh.SSHClientConnection,
        script: str,
        stdin: bytes | None,
        pid: list[int],
    ) -> tuple[str, str, int]:
        async with conn.create_process(script, encoding=None) as proc:
            if stdin:
                proc.stdin.write(stdin)
            proc.stdin.write_eof()
            head = b""
            for _ in range(50):  # a noisy rc file may print before the script runs
                line = await proc.stderr.readline()
                if not line:
                    break
                assert isinstance(line, bytes)
                found, _ = _split_pid(line.decode("utf-8", "replace"))
                if found is not None:
                    pid.append(found)
                    break
                head += line
            completed = await proc.wait()
            out, rest = completed.stdout or b"", completed.stderr or b""
            assert isinstance(out, bytes) and isinstance(rest, bytes)
            err = head + rest
            code = completed.returncode
            if code is None:
                code = -1
            elif code < 0:  # killed by a signal: what a shell would report
                code = 128 - code
            return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), code

    async def _kill(self, conn: asyncssh.SSHClientConnection, pid: list[int]) -> None:
        """End the remote process group of a command we stopped waiting for."""
        if not pid:
            return
        target = str(pid[0])
        script = f"kill -KILL -- -{target} 2>/dev/null; kill -KILL {target} 2>/dev/null; true"
        with anyio.CancelScope(shield=True), anyio.move_on_after(_KILL_TIMEOUT):
            try:
                await conn.run(script, check=False)
            except Exception:
                return

    # -- files --------------------------------------------------------------------------------

    async def _sftp_client(self) -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]:
        import asyncssh

        conn = await self.connect()
        if self._sftp is not None:
            return conn, self._sftp
        try:
            sftp = await conn.start_sftp_client()
        except (OSError, asyncssh.Error) as exc:
            raise self._unreachable(conn, exc) from None
        if self._conn is conn and self._sftp is None:
            self._sftp = sftp
        return conn, self._sftp or sftp

    async def _file_call(self, what: str, path: str, call: Callable[[Any], Any]) -> Any:
        """Run ``call(sftp)``; SFTP status errors become ``OSError``s, others unreachable."""
        import asyncssh

        conn, sftp = await self._sftp_client()
        try:
            return await call(sftp)
        except asyncssh.SFTPError as exc:
            raise _os_error(exc, path) from None
        except (OSError, asyncssh.Error) as exc:
            if isinstance(
                exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotRegularFile)
            ):
                raise
            raise self._unreachable(conn, exc) from None

    async def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        async def read(sftp: asyncssh.SFTPClient) -> bytes:
            async with sftp.open(path, "rb") as handle:
                data = await handle.read(-1 if limit is None else limit)
            assert isinstance(data, bytes)
            return data

        data: bytes = await self._file_call("read", path, read)
        return data

    async def read_regular_bytes(self, path: str, *, limit: int | None = None) -> bytes | None:
        """The content of ``path`` if it is a regular file (not followed through a link, never a
        FIFO or device: opening one could block); ``None`` if absent or not a regular file."""

        async def read(sftp: asyncssh.SFTPClient) -> bytes | None:
            import asyncssh

            try:
                attrs = await sftp.lstat(path)
            except asyncssh.SFTPNoSuchFile:
                return None
            if attrs.permissions is None or not stat_mod.S_ISREG(attrs.permissions):
                return None
            async with sftp.open(path, "rb") as handle:
                data = await handle.read(-1 if limit is None else limit)
            assert isinstance(data, bytes)
            return data

        result: bytes | None = await self._file_call("read", path, read)
        return result

    async def read_regular(self, path: str, *, limit: int) -> bytes:
        """SFTP has no ``O_NONBLOCK``: the path is looked at with ``lstat`` first, and what was
        opened is checked again (a file swapped for a pipe in between can still make the
        remote sftp-server wait; the caller's time bound holds regardless)."""

        async def read(sftp: asyncssh.SFTPClient) -> bytes:
            attrs = await sftp.lstat(path)
            mode = attrs.permissions or 0
            if not stat_mod.S_ISREG(mode):
                raise NotRegularFile(path, describe_mode(mode))
            async with sftp.open(path, "rb") as handle:
                opened = (await handle.stat()).permissions or 0
                if not stat_mod.S_ISREG(opened):
                    raise NotRegularFile(path, describe_mode(opened))
                data = await handle.read(limit)
            assert isinstance(data, bytes)
            return data

        data: bytes = await self._file_call("read", path, read)
        return data

    async def write_bytes_atomic(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        folder = os.path.dirname(path) or "."
        temp = f"{folder}/.tmp-{secrets.token_hex(6)}"

        async def write(sftp: asyncssh.SFTPClient) -> None:
            import asyncssh

            await sftp.makedirs(folder, exist_ok=True)
            try:
                async with sftp.open(temp, "wb", asyncssh.SFTPAttrs(permissions=mode)) as handle:
                    await handle.write(data)
                    await handle.fsync()
                await sftp.chmod(temp, mode)
                await sftp.posix_rename(temp, path)
            except BaseException:
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(_KILL_TIMEOUT),
                    contextlib.suppress(OSError, asyncssh.Error),
                ):
                    await sftp.remove(temp)
                raise

        await self._file_call("write", path, write)

    async def stat(self, path: str) -> FileStat | None:
        async def stat(sftp: asyncssh.SFTPClient) -> FileStat | None:
            return await _stat(sftp, path)

        result: FileStat | None = await self._file_call("stat", path, stat)
        return result

    async def stat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        return await self._stat_many(paths, follow=True)

    async def lstat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        return await self._stat_many(paths, follow=False)

    async def _stat_many(
        self, paths: Sequence[str], *, follow: bool
    ) -> list[FileStat | OSError | None]:
        """Every path in ONE remote ``stat`` command (nanosecond mtimes, as the observer's
        tick reports them; :mod:`metawsm.hosts.statlines`); SFTP when that command fails."""
        if not paths:
            return []
        result = await self.run(
            ["/bin/sh", "-c", stat_script(follow=follow)], stdin=paths_input(paths), timeout=30.0
        )
        if result.ok:
            found = parse_stat_lines(result.stdout, paths)
            return [found[p] for p in paths]
        return await self._sftp_stat_many(paths, follow=follow)

    async def _sftp_stat_many(
        self, paths: Sequence[str], *, follow: bool
    ) -> list[FileStat | OSError | None]:
        import asyncssh

        results: list[FileStat | OSError | None] = [None] * len(paths)

        async def stat_all(sftp: asyncssh.SFTPClient) -> None:
            async def one(index: int, path: str) -> None:
                try:
                    results[index] = await _stat(sftp, path, follow=follow)
                except asyncssh.SFTPError as exc:
                    results[index] = _os_error(exc, path)

            async with anyio.create_task_group() as group:
                for index, path in enumerate(paths):
                    group.start_soon(one, index, path)

        await self._file_call("stat", paths[0], stat_all)
        return results

    async def remove(self, path: str) -> bool:
        async def remove(sftp: asyncssh.SFTPClient) -> bool:
            import asyncssh

            try:
                await sftp.remove(path)
            except asyncssh.SFTPNoSuchFile:
                return False
            return True

        result: bool = await self._file_call("remove", path, remove)
        return result

    async def makedirs(self, path: str, *, mode: int = 0o755) -> None:
        async def makedirs(sftp: asyncssh.SFTPClient) -> None:
            import asyncssh

            await sftp.makedirs(path, asyncssh.SFTPAttrs(permissions=mode), exist_ok=True)

        await self._file_call("makedirs", path, makedirs)

    async def listdir(self, path: str) -> list[str]:
        async def listdir(sftp: asyncssh.SFTPClient) -> list[str]:
            names = await sftp.listdir(path)
            return sorted(str(n) for n in names if n not in (".", ".."))

        result: list[str] = await self._file_call("listdir", path, listdir)
        return result


async def _stat(sftp: asyncssh.SFTPClient, path: str, *, follow: bool = True) -> FileStat | None:
    import asyncssh

    try:
        attrs = await (sftp.stat(path) if follow else sftp.lstat(path))
    except asyncssh.SFTPNoSuchFile:
        return None
    mode = attrs.permissions or 0
    return FileStat(attrs.size or 0, float(attrs.mtime or 0), stat_mod.S_ISDIR(mode), mode)


def _os_error(exc: Exception, path: str) -> OSError:
    import errno

    import asyncssh

    reason = getattr(exc, "reason", str(exc))
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return FileNotFoundError(errno.ENOENT, reason, path)
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return PermissionError(errno.EACCES, reason, path)
    if isinstance(exc, asyncssh.SFTPFileIsADirectory):
        return IsADirectoryError(errno.EISDIR, reason, path)
    return OSError(errno.EIO, reason, path)


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc).strip() or type(exc).__name__
    return text.splitlines()[0]
