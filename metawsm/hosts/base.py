"""The host interface: run a command, read and write files, atomically replace a file."""

from __future__ import annotations

import stat as stat_mod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a finished command left: its exit code and decoded output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True, slots=True)
class FileStat:
    """The facts of a path that metawsm uses."""

    size: int
    mtime: float
    is_dir: bool
    mode: int

    @property
    def is_regular(self) -> bool:
        return stat_mod.S_ISREG(self.mode)

    @property
    def is_link(self) -> bool:
        return stat_mod.S_ISLNK(self.mode)


def describe_mode(mode: int) -> str:
    """What kind of file ``mode`` says it is, for an error: "a named pipe", "a directory"..."""
    if stat_mod.S_ISREG(mode):
        return "a regular file"
    if stat_mod.S_ISDIR(mode):
        return "a directory"
    if stat_mod.S_ISFIFO(mode):
        return "a named pipe"
    if stat_mod.S_ISLNK(mode):
        return "a symbolic link"
    if stat_mod.S_ISSOCK(mode):
        return "a socket"
    return "a device"


class Host(Protocol):
    """Where commands run and files live. Paths are POSIX strings on that host."""

    @property
    def name(self) -> str:
        """``local`` or the SSH host's name from the policy."""
        ...

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
        """Run ``argv`` (no shell). ``env`` is added to the host's environment.

        Raises :class:`~metawsm.hosts.errors.CommandTimeout` past ``timeout`` (the process
        is killed), and :class:`~metawsm.hosts.errors.CommandFailed` on a non-zero exit when
        ``check`` is true. A missing executable is a ``CommandFailed`` with exit 127.
        """
        ...

    async def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        """The file's content (at most ``limit`` bytes); ``FileNotFoundError`` if absent."""
        ...

    async def write_bytes_atomic(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Replace ``path`` with ``data`` atomically (temp file in the same folder + rename)."""
        ...

    async def read_regular(self, path: str, *, limit: int) -> bytes:
        """At most ``limit`` bytes of ``path`` if it is a regular file, for files anyone may
        have planted (signal files): the last component is never followed if it is a link and
        nothing blocks on a named pipe or a device (``O_NOFOLLOW|O_NONBLOCK``, then ``fstat``
        of what was opened). ``FileNotFoundError`` if absent; :class:`NotRegularFile` (an
        ``OSError``) for a link, a pipe, a folder or a device."""
        ...

    async def stat(self, path: str) -> FileStat | None:
        """The path's facts, or ``None`` if it does not exist."""
        ...

    async def stat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        """:meth:`stat` of many paths in one go (one thread hop locally, one round trip
        remotely): each a stat, ``None`` when absent, or the error met for that path."""
        ...

    async def lstat_many(self, paths: Sequence[str]) -> list[FileStat | OSError | None]:
        """:meth:`stat_many` without following a link in the last component: a link is
        reported as a link (``stat.S_ISLNK(mode)``)."""
        ...

    async def remove(self, path: str) -> bool:
        """Remove a file; ``False`` if it was already gone."""
        ...

    async def makedirs(self, path: str, *, mode: int = 0o755) -> None:
        """Create a folder and its parents; fine if it exists."""
        ...

    async def listdir(self, path: str) -> list[str]:
        """Names in a folder, sorted; ``FileNotFoundError`` if absent."""
        ...
