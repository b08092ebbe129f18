"""This machine as a :class:`~metawsm.hosts.base.Host`: anyio subprocesses and file calls."""

from __future__ import annotations

import errno
import os
import stat as stat_mod
import subprocess
import tempfile
from collections.abc import Mapping, Sequence

import anyio

from metawsm.hosts.base import CommandResult, FileStat, describe_mode
from metawsm.hosts.errors import CommandFailed, CommandTimeout, NotRegularFile

# Variables that would point a child tmux at the operator's own server, or make git act on a
# repository other than the one named by its argv.
_SCRUBBED_ENV = ("TMUX", "TMUX_PANE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


class LocalHost:
    """Run commands and touch files on this machine.

    File calls run in a worker thread that is abandoned when the caller is cancelled, so a
    caller's time bound holds even when the file system does not answer (the thread ends when
    the call finally returns).
    """

    def __init__(self, name: str = "local") -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

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
        args = [str(a) for a in argv]
        if not args:
            raise ValueError("empty argv")
        full_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        if env:
            full_env.update(env)
        try:
            with anyio.fail_after(timeout):
                proc = await anyio.run_process(
                    args,
                    input=stdin,
                    cwd=cwd,
                    env=full_env,
                    check=False,
                    stdin=None if stdin is not None else subprocess.DEVNULL,
                )
        except TimeoutError:
            raise CommandTimeout(self._name, args, timeout) from None
        except FileNotFoundError as exc:
            missing = exc.filename if exc.filename is not None else args[0]
            if cwd is not None and missing == cwd:
                raise CommandFailed(self._name, args, 127, f"no such folder: {cwd}") from None
            result = CommandResult(tuple(args), 127, "", f"command not found: {args[0]}")
            if check:
                raise CommandFailed(self._name, args, 127, result.stderr) from None
            return result
        result = CommandResult(
            tuple(args),
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )
        if check and result.returncode != 0:
            raise CommandFailed(self._name, args, result.returncode, result.stderr)
        return result

    async def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        def read() -> bytes:
            with open(path, "rb") as handle:
                return handle.read() if limit is None else handle.read(limit)

        return await anyio.to_thread.run_sync(read, abandon_on_cancel=True)

    async def read_regular(self, path: str, *, limit: int) -> bytes:
        return await anyio.to_thread.run_sync(
            _read_regular_now, path, limit, abandon_on_cancel=True
        )

    async def write_bytes_atomic(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        def write() -> None:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, mode)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

        await anyio.to_thread.run_sync(write)

    async def stat(self, path: str) -> FileStat | None:
        return await anyio.to_thread.run_sync(_stat_now, path, abandon_on_cancel=True)

    async def stat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        return await anyio.to_thread.run_sync(_stat_all, paths, True, abandon_on_cancel=True)

    async def lstat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        return await anyio.to_thread.run_sync(_stat_all, paths, False, abandon_on_cancel=True)

    async def remove(self, path: str) -> bool:
        try:
            await anyio.Path(path).unlink()
        except FileNotFoundError:
            return False
        return True

    async def makedirs(self, path: str, *, mode: int = 0o755) -> None:
        await anyio.Path(path).mkdir(mode=mode, parents=True, exist_ok=True)

    async def listdir(self, path: str) -> list[str]:
        return sorted([p.name async for p in anyio.Path(path).iterdir()])


def _stat_now(path: str, follow: bool = True) -> FileStat | None:
    """The facts of ``path`` (following a final link when ``follow``), ``None`` if it does
    not exist."""
    try:
        st = os.stat(path, follow_symlinks=follow)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return FileStat(st.st_size, st.st_mtime, stat_mod.S_ISDIR(st.st_mode), st.st_mode)


def _stat_all(paths: Sequence[str], follow: bool) -> list[FileStat | OSError | None]:
    results: list[FileStat | OSError | None] = []
    for path in paths:
        try:
            results.append(_stat_now(path, follow))
        except OSError as exc:
            results.append(exc)
    return results


def _read_regular_now(path: str, limit: int) -> bytes:
    """Open without following a final link and without blocking (a pipe with no writer, a
    device), check what was opened, then read at most ``limit`` bytes."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        # ELOOP: the last component is a link (O_NOFOLLOW). Say so rather than "too many
        # levels of symbolic links".
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise NotRegularFile(path, "a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat_mod.S_ISREG(info.st_mode):
            raise NotRegularFile(path, describe_mode(info.st_mode))
        # A regular file reads as usual; O_NONBLOCK does not apply to it.
        chunks: list[bytes] = []
        remaining = limit
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
